"""Conference links in the browser (L5-L7): the page at /c/TOKEN (a pre-call check, then the group call; chat
only on iOS; a clear message elsewhere), the calls its script makes (credentials, joining the link's rooms,
storing a diagnostics report), and the provider's API for the links themselves (issue, revoke, list).

Everything a visitor's browser touches goes through the edge: the page and these calls to the links service,
Janus' API at the edge's Janus path with a signed token naming the plugins a conference uses, media over the
TURN relays with time-limited credentials. The links service alone talks to Janus with its API secret, to
create the link's rooms (with a PIN derived from the signing key) and to sweep empty ones.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Literal

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from ..domain import conference as domain
from ..domain.provisioning import ProvisioningError
from ..protocols.janus import CONFERENCE_PLUGINS, JanusError, room_path, signed_token
from ..protocols.turn_rest import rest_credentials
from . import i18n
from .api import ApiError, IceServer, Lines, Problem, Problems, Text
from .browsers import classify
from .gateway_client import GatewayClient, GatewayUnavailable
from .rooms import Rooms



def _(message: str) -> str:
    """Marks a message for the catalogs (scripts/catalogs); it is translated where it is shown."""
    return message


#: The name the video phone's screen shows for a conference calling it (L5).
CONFERENCE_DISPLAY = "Conference"

#: Browsers the clear message names (L6).
SUPPORTED = _("Google Chrome or Mozilla Firefox")


class ConferenceOptions(BaseModel):
    """The conference part of the links service's configuration (written by the deploy from `links.*`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    janus_urls: tuple[str, ...] = ()
    janus_api_secret: str = ""
    janus_room_key: str = ""
    janus_token_secret: str = ""
    janus_path: str = "/janus"
    janus_token_seconds: int = 4 * 3600
    room_publishers: int = 6
    ice_policy: Literal["relay", "all"] = "relay"
    sweep_seconds: float = 30.0
    gateways: tuple[str, ...] = ()
    gateway_token: str = ""


# --- API shapes -------------------------------------------------------------------------------------------


class JanusAccess(BaseModel):
    path: str = Field(description="Janus' HTTP API on the edge, same origin as the page")
    token: str = Field(description="signed, expiring; names the plugins a conference uses")


class Session(BaseModel):
    """What the page's pre-call check needs: Janus access and TURN credentials."""

    video_phone: str
    janus: JanusAccess
    ice_servers: list[IceServer]
    ice_policy: Literal["relay", "all"]


class Joined(Session):
    room: int
    pin: str = Field(description="the room's PIN: the Janus token alone joins no room")


class JoinRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display: Text = Field(min_length=1, max_length=64, description="the name the others see")


class DiagnosticsReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ok: bool
    summary: Text = Field(max_length=500)
    report: Lines = Field(max_length=domain.REPORT_MAX, description="the plain-text report the page shows")


class Stored(BaseModel):
    id: int


class ConferenceLinkIssued(BaseModel):
    link: str = Field(description="https://EDGE/c/TOKEN")
    video_phone: str
    revoked: int = Field(description="earlier links of this video phone, now revoked (0 or 1)")
    account: str = Field(description="the SIP account the conference calls the video phone from")


class ConferenceLinkRow(BaseModel):
    id: int
    video_phone: str
    display_name: str
    link: str | None = Field(description="null once revoked")
    room: int
    state: Literal["active", "revoked"]
    created_at: str
    revoked_at: str | None
    last_joined_at: str | None


class Revoked(BaseModel):
    revoked: int


class CallRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    publisher: int | None = Field(None, ge=1, le=2**53, description="the calling page's video-room feed: the "
                                                                      "video the phone sees first")


class CallState(BaseModel):
    """The video phone's call into the link's conference."""

    state: Literal["none", "calling", "answered", "ended", "failed"]
    reason: str = Field("", description="why it failed or ended")
    mountpoint: int | None = Field(None, description="the Janus Streaming mountpoint carrying the phone's video "
                                                     "(while answered)")
    video_from: int | None = Field(None, description="the feed whose video the phone receives")


def register(app: FastAPI, *, runner, config, signing_key: str, turn_secret: str, turn_uris: tuple[str, ...],
             turn_lifetime_seconds: int, options: ConferenceOptions, page: Callable, provider_guard: dict,
             default_language: str, language_cookie: str) -> Rooms | None:
    """Add the conference pages and calls to the links app; the Rooms it manages (None without an SFU)."""
    rooms = (Rooms(options.janus_urls, options.janus_api_secret, options.janus_room_key,
                   publishers=options.room_publishers, first_room=domain.ROOM_BASE)
             if options.janus_urls else None)
    public_url = config.public_url

    def language_of(request: Request) -> str:
        return i18n.negotiate(request.cookies.get(language_cookie), request.headers.get("accept-language"),
                              default_language)

    def conference_page(request: Request, token: str) -> HTMLResponse:
        link = domain.look_up(runner, token)
        if link is None:
            return page(request, "not_found.html", 404)
        language = language_of(request)
        if link["state"] != "active":
            t = lambda message, **values: i18n.gettext(language, message, **values)  # noqa: E731
            return page(request, "invite_gone.html", 410, state="revoked",
                        heading=t("This conference link has been revoked"),
                        explanation=t("The video phone's owner replaced or withdrew this link. Ask them for the "
                                      "current one."))
        support = classify(request.headers.get("user-agent"))
        return page(request, "conference.html", 200, mode=support.mode, browser=support.browser, os=support.os,
                    video_phone=link["display_name"], supported=i18n.gettext(language, SUPPORTED),
                    scheduled=link["video_phone"] is None, starts_at=_utc(link["starts_at"]),
                    duration=link["duration_minutes"],
                    config={"mode": support.mode, "api": f"/api/v1/conference/{token}",
                            "video_phone": link["video_phone"] is not None,
                            "janus_path": options.janus_path, "browser": support.browser, "os": support.os,
                            "language": language})

    app.add_api_route("/c/{token}", conference_page, methods=["GET"], include_in_schema=False)

    # --- the page's calls -------------------------------------------------------------------------------------

    def active_link(token: str) -> dict:
        link = domain.look_up(runner, token)
        if link is None:
            raise ApiError(404, "unknown", "no such conference link")
        if link["state"] != "active":
            raise ApiError(410, link["state"], "this conference link was revoked; ask for the current one")
        return link

    def credentials(link: dict) -> dict:
        # one TURN user per page: coturn's per-user quota then bounds each page, not the whole link
        turn = rest_credentials(turn_secret, f"conference-{link['id']}-{secrets.token_hex(4)}",
                                turn_lifetime_seconds, uris=turn_uris)
        return {"video_phone": link["display_name"],
                "janus": JanusAccess(path=room_path(options.janus_path, rooms.host_index(link["room"]),
                                                    len(options.janus_urls)) if rooms else options.janus_path,
                                     token=signed_token(options.janus_token_secret, CONFERENCE_PLUGINS,
                                                        options.janus_token_seconds)),
                "ice_servers": [IceServer(**turn.ice_server(), expires_at=turn.expires_at)],
                "ice_policy": options.ice_policy}

    def session(token: str) -> Session:
        """Credentials for the pre-call check: a Janus token and TURN credentials."""
        return Session(**credentials(active_link(token)))

    def ensured_rooms(link: dict) -> str:
        """The link's rooms exist on their SFU host (created if nobody is in them yet); their PIN."""
        if rooms is None:
            raise ApiError(503, "no_sfu", "this deployment has no SFU host")
        pin = domain.room_pin(signing_key, link["room"])
        try:
            rooms.ensure(link["room"], pin)
        except (JanusError, OSError) as exc:
            raise ApiError(503, "sfu_unavailable", f"the conference server cannot be reached: {exc}") from None
        return pin

    def join(token: str, body: JoinRequest) -> Joined:
        """Join the link's conference: its rooms are created if nobody is in them yet."""
        link = active_link(token)
        pin = ensured_rooms(link)
        domain.joined(runner, link["id"])
        return Joined(**credentials(link), room=link["room"], pin=pin)

    def store_report(request: Request, token: str, body: DiagnosticsReport) -> Stored:
        """Store the page's diagnostics report, for support (`rtcstack diagnostics list`)."""
        link = active_link(token)
        try:
            stored = domain.store_diagnostics(runner, link["id"], body.ok, body.summary, body.report,
                                              request.headers.get("user-agent", ""))
        except ProvisioningError as exc:
            raise ApiError(422, errors=exc.problems) from None
        return Stored(id=stored)

    gateway = GatewayClient(options.gateways, options.gateway_token) if options.gateways else None

    def gateway_call(operation: str, link: dict, **target) -> CallState:
        if gateway is None:
            raise ApiError(503, "no_gateway", "this deployment has no conference gateway: video phones cannot be "
                                              "called into a conference")
        try:
            found = getattr(gateway, operation)(link["room"], **target)
        except GatewayUnavailable as exc:
            raise ApiError(503, "gateway_unavailable", str(exc)) from None
        return CallState(**{k: found.get(k) for k in ("state", "reason", "mountpoint", "video_from")
                            if found.get(k) is not None})

    def call_phone(token: str, body: CallRequest) -> CallState:
        """Call the video phone into the link's conference (once: a second press reports the same call)."""
        link = active_link(token)
        if link["video_phone"] is None:
            raise ApiError(409, "no_video_phone", "a scheduled conference has no video phone to call")
        pin = ensured_rooms(link)
        target = domain.call_target(runner, link["id"])
        return gateway_call("call", link, pin=pin, janus_url=rooms.host_for(link["room"]), caller=target["caller"],
                            callee=target["callee"], display=CONFERENCE_DISPLAY, publisher=body.publisher)

    def call_state(token: str) -> CallState:
        """The video phone's call: calling, answered (with the mountpoint of its video), ended or failed."""
        return gateway_call("state", active_link(token))

    def hang_up(token: str) -> CallState:
        """End the video phone's call."""
        return gateway_call("hang_up", active_link(token))

    visitor = {"tags": ["conference"], "responses": {
        400: {"model": Problems, "description": "the body is not JSON"},
        404: {"model": Problem, "description": "unknown link"}, 410: {"model": Problem, "description": "revoked"},
        422: {"model": Problems, "description": "bad input"}}}
    app.add_api_route("/api/v1/conference/{token}/session", session, methods=["POST"], response_model=Session,
                      summary="Credentials for the pre-call check", **visitor)
    app.add_api_route("/api/v1/conference/{token}/join", join, methods=["POST"], response_model=Joined,
                      summary="Join the link's conference",
                      **{**visitor, "responses": {**visitor["responses"], 503: {
                          "model": Problem, "description": "the conference server cannot be reached"}}})
    with_gateway = {**visitor, "responses": {**visitor["responses"], 503: {
        "model": Problem, "description": "no conference gateway, or it or the conference server cannot be reached"},
        409: {"model": Problem, "description": "a scheduled conference: no video phone to call"}}}
    app.add_api_route("/api/v1/conference/{token}/call", call_phone, methods=["POST"], response_model=CallState,
                      summary="Call the video phone into the conference", **with_gateway)
    app.add_api_route("/api/v1/conference/{token}/call", call_state, methods=["GET"], response_model=CallState,
                      summary="The video phone's call", **with_gateway)
    app.add_api_route("/api/v1/conference/{token}/call", hang_up, methods=["DELETE"], response_model=CallState,
                      summary="Hang up the video phone", **with_gateway)
    app.add_api_route("/api/v1/conference/{token}/diagnostics", store_report, methods=["POST"], status_code=201,
                      response_model=Stored, summary="Store a diagnostics report", **visitor)

    # --- the provider's API ----------------------------------------------------------------------------------

    def provisioning(operation, *args):
        try:
            return operation(*args)
        except ProvisioningError as exc:
            raise ApiError(422, errors=exc.problems) from None

    def issue(video_phone: Text) -> ConferenceLinkIssued:
        """Issue the video phone's conference link, revoking its earlier one."""
        issued = provisioning(domain.issue, runner, public_url, config.sip_domain, signing_key, video_phone)
        return ConferenceLinkIssued(link=issued.link, video_phone=video_phone, revoked=issued.revoked,
                                    account=issued.account)

    def revoke(video_phone: Text) -> Revoked:
        """Revoke the video phone's conference link; its ongoing conference ends within a sweep."""
        return Revoked(revoked=provisioning(domain.revoke, runner, video_phone))

    def list_links(video_phone: Text | None = None) -> list[ConferenceLinkRow]:
        """Conference links, newest first."""
        return [ConferenceLinkRow(**row) for row in
                provisioning(domain.list_links, runner, public_url, signing_key, video_phone)]

    path = "/api/v1/video-phones/{video_phone}/conference-link"
    app.add_api_route(path, issue, methods=["POST"], status_code=201, response_model=ConferenceLinkIssued,
                      summary="Issue (or re-issue) a video phone's conference link", **provider_guard)
    app.add_api_route(path, revoke, methods=["DELETE"], response_model=Revoked,
                      summary="Revoke a video phone's conference link", **provider_guard)
    app.add_api_route("/api/v1/conference-links", list_links, methods=["GET"], response_model=list[ConferenceLinkRow],
                      summary="List conference links", **provider_guard)
    return rooms


def _utc(moment) -> str:
    """A scheduled conference's start as the page shows it: UTC, to the minute (the page has no time zone)."""
    if not moment:
        return ""
    value = moment if isinstance(moment, datetime) else datetime.fromisoformat(str(moment))
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M")
