"""The voicemail service's process: the SIP agent (UDP, the registrars only), the retention sweep, and an HTTP
API on the private address for the portal hosts (a message's audio, deleting it) with a bearer token."""

from __future__ import annotations

import hmac
import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import create_engine

from ..web.config import ServiceConfig
from .agent import PortPool, VoicemailAgent
from .session import Limits
from .store import Store

log = logging.getLogger("rtcstack.voicemail")


class VoicemailOptions(BaseModel):
    """The voicemail part of /etc/rtcstack/voicemail/service.json (roles/voicemail.py writes it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    address: str
    sip_port: int
    rtp_ports: tuple[int, int]
    registrars: list[str]
    messages_dir: str
    greetings: dict[str, str] = Field(description="The default greeting's WAV per language.")
    default_language: str = "pl"
    token: str
    max_sessions: int = 50
    max_message_seconds: int = 120
    silence_seconds: float = 3.0
    silence_dbfs: float = -45.0
    retention_days: int = 30
    max_messages: int = 100
    sweep_minutes: int = 60


def create() -> FastAPI:
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    return create_voicemail_app(ServiceConfig.load())


def create_voicemail_app(config: ServiceConfig) -> FastAPI:
    options = VoicemailOptions.model_validate(config.options)
    engine = create_engine(config.database_url, pool_pre_ping=True, pool_size=4, max_overflow=4)
    store = Store(engine, options.host, Path(options.messages_dir),
                  {k: Path(v) for k, v in options.greetings.items()}, options.default_language)
    limits = Limits(max_seconds=options.max_message_seconds, silence_seconds=options.silence_seconds,
                    silence_dbfs=options.silence_dbfs)
    stop = threading.Event()

    def sweep() -> None:
        """At start (in this thread: the service answers at once) and every sweep_minutes after."""
        while True:
            try:
                removed = store.sweep(options.retention_days, options.max_messages)
                if removed:
                    log.info("retention: %d message(s) removed", removed)
            except Exception:
                log.exception("retention sweep")
            if stop.wait(options.sweep_minutes * 60):
                return

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        agent = VoicemailAgent(options.address, options.sip_port, set(options.registrars), store,
                               PortPool(*options.rtp_ports), limits, options.max_sessions)
        app.state.agent = agent
        agent.start()
        threading.Thread(target=sweep, daemon=True, name="voicemail-retention").start()
        yield
        stop.set()
        agent.close()
        engine.dispose()

    app = FastAPI(title="rtcstack voicemail", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)

    def authorised(authorization: str = Header("")) -> None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), options.token.encode()):
            raise HTTPException(401, "give the voicemail token as `Authorization: Bearer TOKEN`")

    @app.get("/healthz")
    def healthz() -> dict:
        agent = getattr(app.state, "agent", None)
        return {"ok": agent is not None, "sessions": agent.active() if agent else 0}

    @app.get("/messages/{message_id}/audio", dependencies=[Depends(authorised)])
    def message_audio(message_id: int) -> FileResponse:
        path = store.message_path(message_id)
        if path is None or not path.is_file():
            raise HTTPException(404, "no such message on this voicemail host")
        return FileResponse(path, media_type="audio/wav")

    @app.delete("/messages/{message_id}", dependencies=[Depends(authorised)])
    def delete_message(message_id: int) -> dict:
        if not store.delete(message_id):
            raise HTTPException(404, "no such message on this voicemail host")
        return {"deleted": message_id}

    return app
