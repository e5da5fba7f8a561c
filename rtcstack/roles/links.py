"""links role: rtcstack's conference-link service (invites, QR codes, browser pages): uvicorn from the
wheelhouse under systemd as rtcstack-links, bound to the private address, behind the edge's /api/v1/ and /i/."""

from __future__ import annotations

from pydantic import Field

from ..config.settings import Port, Settings
from .base import web_service


class LinksSettings(Settings):
    """rtcstack's conference-link service (invites, QR codes, browser pages)."""

    port: Port = Field(8081, description="HTTP port of the links service (private address, edge hosts only).")


ROLE = web_service("links", LinksSettings, needs=("database", "sfu", "turn", "edge"),
                   secrets={"links_signing_key": "key that signs invite and conference links"},
                   factory="rtcstack.web.links:create", paths=("/api/v1/", "/i/"))
