"""The gateway's control API, on its private address for the links hosts only: call a video phone into a
room, read the call's state, hang up. One uvicorn worker: the calls live in this process."""

from __future__ import annotations

import hmac
import json
import logging
import os
import threading
from pathlib import Path

from fastapi import Depends, FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..domain.conference import account_password
from ..web.config import CONFIG_ENV
from .call import ConferenceCall, Environment, Target

log = logging.getLogger("rtcstack.gateway")


class GatewayConfig(BaseModel):
    """/etc/rtcstack/gateway/service.json, written by the deploy (roles/gateway.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    managed_by: str = ""
    service: str = "gateway"
    sip_domain: str
    address: str = Field(description="This host's private address: SIP and RTP leave from it.")
    rtp_ports: tuple[int, int]
    registrar: tuple[str, int]
    janus_urls: list[str]
    janus_api_secret: str
    janus_room_key: str
    signing_key: str = Field(description="The links signing key: conference accounts' passwords derive from it.")
    token: str = Field(description="Bearer token the links service presents.")
    ring_seconds: int = 45
    max_calls: int = 50

    @classmethod
    def load(cls, path: str | None = None) -> GatewayConfig:
        where = Path(path or os.environ.get(CONFIG_ENV) or "")
        if not where.name:
            raise RuntimeError(f"no gateway configuration: set {CONFIG_ENV} to its file")
        return cls.model_validate(json.loads(where.read_text()))


class CallRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    room: int = Field(ge=1, le=2**53)
    pin: str = Field(min_length=1, max_length=64)
    janus_url: str = Field(max_length=300)
    caller: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    callee: str = Field(pattern=r"^[A-Za-z0-9._+-]{1,64}$")
    display: str = Field("", max_length=64)
    publisher: int | None = Field(None, ge=1, le=2**53)


def create() -> FastAPI:
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    return create_gateway_app(GatewayConfig.load())


def create_gateway_app(config: GatewayConfig) -> FastAPI:
    app = FastAPI(title="rtcstack conference gateway", docs_url=None, redoc_url=None)
    env = Environment(config.address, config.rtp_ports, config.registrar, config.sip_domain,
                      config.janus_api_secret, config.janus_room_key, config.ring_seconds)
    calls: dict[int, ConferenceCall] = {}
    lock = threading.Lock()
    app.state.calls = calls

    def authorised(authorization: str = Header("")) -> None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), config.token.encode()):
            raise _Refused(401, "give the gateway token as `Authorization: Bearer TOKEN`")

    @app.exception_handler(_Refused)
    async def refused(request, error: _Refused) -> JSONResponse:
        return JSONResponse({"errors": [error.message]}, status_code=error.status)

    @app.get("/healthz")
    def healthz() -> dict:
        with lock:
            return {"ok": True, "calls": sum(1 for c in calls.values() if c.active)}

    @app.post("/calls", dependencies=[Depends(authorised)], status_code=202)
    def call(body: CallRequest) -> dict:
        if body.janus_url not in config.janus_urls:
            raise _Refused(422, f"janus_url: {body.janus_url} is none of this gateway's SFU hosts")
        with lock:
            current = calls.get(body.room)
            if current is not None and current.active:
                return current.status()  # one phone call per room: pressing Call twice calls once
            if sum(1 for c in calls.values() if c.active) >= config.max_calls:
                raise _Refused(503, f"this gateway carries {config.max_calls} calls already")
            for room in [r for r, c in calls.items() if not c.active]:
                del calls[room]
            target = Target(body.room, body.pin, body.janus_url, body.caller,
                            account_password(config.signing_key, body.caller), body.callee, body.display,
                            body.publisher)
            calls[body.room] = started = ConferenceCall(target, env)
            started.start()
            return started.status()

    @app.get("/calls/{room}", dependencies=[Depends(authorised)])
    def state(room: int) -> dict:
        with lock:
            found = calls.get(room)
        if found is None:
            return {"room": room, "state": "none", "reason": ""}
        return found.status()

    @app.delete("/calls/{room}", dependencies=[Depends(authorised)])
    def hang_up(room: int) -> dict:
        with lock:
            found = calls.get(room)
        if found is None:
            return {"room": room, "state": "none", "reason": ""}
        found.hang_up()
        found.wait(10)
        return found.status()

    @app.on_event("shutdown")
    def end_calls() -> None:
        for found in list(calls.values()):
            found.hang_up()
        for found in list(calls.values()):
            found.wait(5)

    return app


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message
