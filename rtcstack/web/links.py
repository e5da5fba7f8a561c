"""The links service (L1-L4): invites, their pages and redeem. Started by uvicorn as
`rtcstack.web.links:create` (a factory), with its configuration from RTCSTACK_SERVICE_CONFIG."""

from __future__ import annotations

from fastapi import FastAPI

from . import logs
from .app import create_app
from .config import ServiceConfig


def create() -> FastAPI:
    config = ServiceConfig.load()
    logs.configure(config.service)
    return create_app(config)
