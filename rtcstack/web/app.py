"""The application every rtcstack web service starts from: security headers, request logs, `/healthz`."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from .config import ServiceConfig

#: On every answer: no sniffing, no framing, no referrer (links carry tokens), no powerful features.
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "Cross-Origin-Opener-Policy": "same-origin",
}

log = logging.getLogger("rtcstack.web")

#: A path segment that may be a secret token (invite links): logs show a hash prefix instead.
_TOKENISH = re.compile(r"(?<=/)[A-Za-z0-9_-]{24,}(?=/|$)")


def loggable_path(path: str) -> str:
    """The path with anything token-like replaced by `~` and a prefix of its SHA-256."""
    return _TOKENISH.sub(lambda m: "~" + hashlib.sha256(m.group(0).encode()).hexdigest()[:8], path)


#: Connections one worker process keeps (and may add under a burst): the role's login is sized from these.
POOL_SIZE, POOL_OVERFLOW = 4, 2


def engine_for(config: ServiceConfig) -> Engine:
    return create_engine(config.database_url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)


def _problem(error: dict) -> str:
    where = ".".join(part for part in error.get("loc", ()) if isinstance(part, str) and part != "body") or "body"
    return f"{where}: {error.get('msg', 'is not valid')}"


def create_app(config: ServiceConfig, engine: Engine | None = None, background: tuple = (),
               api: str = "/api/v1") -> FastAPI:
    """A FastAPI application for `config.service`; its JSON API lives under `api` (OpenAPI at
    API/openapi.json). `background`: objects with start() and stop(), run while the app serves."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for task in background:
            task.start()
        yield
        for task in reversed(background):
            task.stop()

    app = FastAPI(title=f"rtcstack {config.service}", openapi_url=f"{api}/openapi.json", docs_url=None,
                  redoc_url=None, lifespan=lifespan)
    app.state.config = config
    app.state.engine = engine or engine_for(config)

    @app.middleware("http")
    async def headers_and_log(request: Request, call_next) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        log.info("request", extra={"fields": {
            "method": request.method, "path": loggable_path(request.url.path), "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 1)}})
        return response

    def health() -> JSONResponse:
        try:
            with app.state.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:  # any database failure: the service is not healthy
            reason = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0][:200]
            log.warning("database unreachable", extra={"fields": {"error": type(exc).__name__, "reason": reason}})
            return JSONResponse({"status": "failing", "database": "unreachable"}, status_code=503,
                                headers={"Retry-After": "5"})
        return JSONResponse({"status": "ok", "service": config.service, "database": "ok"})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """Every rtcstack API answers bad input the same way: 422 with one line per problem, naming the field."""
        return JSONResponse({"errors": [_problem(error) for error in exc.errors()]}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        """A body that is not JSON at all (400) gets the same shape; other HTTP errors keep FastAPI's."""
        if exc.status_code == 400:
            return JSONResponse({"errors": [f"body: {exc.detail}"]}, status_code=400)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    app.add_api_route("/healthz", health, methods=["GET"], summary="Liveness and database reachability",
                      responses={503: {"description": "the database cannot be reached"}})
    app.add_api_route("/api/v1/healthz", health, methods=["GET"], summary="The same, through the edge",
                      responses={503: {"description": "the database cannot be reached"}})
    return app
