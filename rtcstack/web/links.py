"""The links service (L1-L4): invite pages (a QR code on desktops and tablets, an open-app button on phones),
the app's redeem call, the provider's JSON API (video phones, contacts, invites), and the outbox sender.
Started by uvicorn as `rtcstack.web.links:create` (a factory), configured by RTCSTACK_SERVICE_CONFIG."""

from __future__ import annotations

import hmac
import math
from datetime import UTC, datetime
from typing import Annotated, Literal

import segno
from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from ..domain import links as domain
from ..domain.provisioning import ProvisioningError
from ..protocols.turn_rest import rest_credentials
from ..domain import conference as conference_domain
from . import conference, csrf, i18n, logs
from .api import ApiError, IceServer, Problem, Problems, Text
from .app import create_app, engine_for
from .config import ServiceConfig
from .db import EngineRunner
from .messages import InviteMessages
from .conference import ConferenceOptions
from .outbox import MailRelay, Outbox, SmsGateway
from .rooms import Sweeper

LANGUAGE_COOKIE = "lang"


class LinksOptions(BaseModel):
    """The links service's part of its configuration file (written by the deploy from `links.*`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    signing_key: str
    admin_token: str
    invite_days: int = 14
    service_name: str = "rtcstack"
    support_contact: str = ""
    default_language: str = "pl"
    app_scheme: str = "rtcstack"
    app_link: str = ""
    app_store_url: str = ""
    play_store_url: str = ""
    mail: MailRelay | None = None
    sms: SmsGateway = SmsGateway()
    turn_secret: str = ""
    turn_uris: tuple[str, ...] = ()
    turn_lifetime_seconds: int = 86400
    registrars: tuple[str, ...] = ()
    outbox_poll_seconds: float = 1.0
    conference: ConferenceOptions = ConferenceOptions()


# --- API shapes (the OpenAPI description is generated from these) ---------------------------------------


class RedeemRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Text = Field(max_length=64, description="the token of the invite link (the part after /i/)")
    display_name: Text | None = Field(None, max_length=128, description="defaults to the contact's name")
    recovery_email: Text | None = Field(None, max_length=254, description="unique across accounts")


class SipSection(BaseModel):
    username: str
    password: str = Field(description="shown this once; only its HA1 is stored")
    domain: str
    registrars: list[str] = Field(description="SIP URIs for UDP, TCP and TLS")


class CircleMember(BaseModel):
    sip: str
    display_name: str
    video_phone: bool


class Provisioning(BaseModel):
    """What the app needs to set itself up: its SIP account, TURN, its name and its contact list (L4)."""

    sip: SipSection
    turn: IceServer
    display_name: str
    contacts: list[CircleMember]


class VideoPhoneRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(max_length=64, description="also the SIP user name of its account")
    customer: Text = Field(max_length=128)
    display_name: Text | None = Field(None, max_length=128)


class VideoPhoneCreated(BaseModel):
    name: str
    summary: str
    sip_username: str
    sip_password: str = Field(description="shown this once")


class ContactRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Text | None = Field(None, max_length=254)
    mobile: Text | None = Field(None, max_length=32)
    phone_only: bool = False
    language: Literal["pl", "en"] = "pl"


class Summary(BaseModel):
    summary: str


class InviteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    video_phone: Text = Field(max_length=64)
    contact: Text = Field(max_length=128)
    via: Literal["email", "sms", "none"] | None = None


class InviteIssued(BaseModel):
    link: str = Field(description="https://EDGE/i/TOKEN; shown this once")
    channel: str
    recipient: str
    expires_at: datetime
    revoked: int = Field(description="earlier links of this pair, now revoked")


class InviteRow(BaseModel):
    id: int
    video_phone: str
    contact: str
    channel: str
    created_at: str
    expires_at: str
    state: Literal["active", "used", "revoked", "expired"]
    delivery: Literal["sent", "pending", "failed", "not sent"]
    attempts: int
    last_error: str | None


def device_kind(user_agent: str) -> Literal["phone", "tablet", "desktop"]:
    """Phones open the app; tablets (they cannot scan their own screen) and desktops get the QR code."""
    ua = user_agent or ""
    if "iPad" in ua or ("Android" in ua and "Mobile" not in ua) or "Tablet" in ua:
        return "tablet"
    if "iPhone" in ua or "iPod" in ua or ("Android" in ua and "Mobile" in ua) or "Mobile" in ua:
        return "phone"
    return "desktop"


def create() -> FastAPI:
    config = ServiceConfig.load()
    logs.configure(config.service)
    return create_links_app(config)


def create_links_app(config: ServiceConfig, engine=None, start_outbox: bool = True) -> FastAPI:
    options = LinksOptions.model_validate(config.options)
    engine = engine or engine_for(config)
    runner = EngineRunner(engine)
    outbox = Outbox(runner, options.signing_key, options.mail, options.sms, options.outbox_poll_seconds)
    background = [outbox] if start_outbox else []
    app = create_app(config, engine, background=background)
    app.state.outbox = outbox
    settings = domain.LinkSettings(public_url=config.public_url, realm=config.sip_domain,
                                   signing_key=options.signing_key, invite_days=options.invite_days)
    compose = InviteMessages(options.service_name, options.support_contact)
    app.mount("/i/static", StaticFiles(directory=i18n.HERE / "static"), name="static")
    bearer = HTTPBearer(auto_error=False, description="the links service's admin token (secret links_admin_token)")

    # (a default, not Annotated: annotations are strings here, and `bearer` is local)
    def provider(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if credentials is None or not hmac.compare_digest(credentials.credentials.encode(),
                                                          options.admin_token.encode()):
            raise ApiError(401, "unauthorized", "give the admin token as `Authorization: Bearer TOKEN`")

    # --- pages ---------------------------------------------------------------------------------------

    def page(request: Request, template: str, status: int, **context) -> HTMLResponse:
        language = i18n.negotiate(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"),
                                  options.default_language)
        nonce, fresh = csrf.nonce(request)
        html = i18n.render(template, language, service=options.service_name, support=options.support_contact,
                           static="/i/static", form_action=request.url.path,
                           csrf_token=csrf.token(options.signing_key, nonce), **context)
        response = HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store",
                                                                   "Content-Language": language})
        if fresh:
            csrf.set_cookie(response, nonce)
        return response

    def invite_page(request: Request, token: str) -> HTMLResponse:
        invite = domain.look_up(runner, token)
        if invite is None:
            return page(request, "not_found.html", 404)
        if invite["state"] != "active":
            language = i18n.negotiate(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"),
                                      options.default_language)
            heading, explanation = _gone_text(language, invite["state"], invite["video_phone"])
            return page(request, "invite_gone.html", 410, state=invite["state"], heading=heading,
                        explanation=explanation)
        link = f"{config.public_url.rstrip('/')}/i/{token}"
        left = datetime.fromisoformat(invite["expires_at"]) - datetime.now(UTC)
        qr = segno.make(link, error="m")
        return page(request, "invite.html", 200, device=device_kind(request.headers.get("user-agent", "")),
                    contact=invite["contact"], video_phone=invite["video_phone"],
                    qr=qr.svg_data_uri(scale=1, border=4), qr_size=240,
                    app_url=f"{options.app_scheme}://invite/{token}",
                    app_link=f"{(options.app_link or config.public_url + '/app').rstrip('/')}/{token}",
                    app_store_url=options.app_store_url, play_store_url=options.play_store_url,
                    days=max(1, math.ceil(left.total_seconds() / 86400)))

    def choose_language(request: Request, token: str, language: Annotated[str, Form(max_length=8)],
                        csrf_token: Annotated[str, Form(max_length=128)] = "") -> RedirectResponse:
        csrf.verify(request, csrf_token, options.signing_key)
        response = RedirectResponse(request.url.path, status_code=303)
        if language in i18n.LANGUAGES:
            response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 86400, secure=True, httponly=True,
                                samesite="lax", path="/")
        return response

    app.add_api_route("/i/{token}", invite_page, methods=["GET"], include_in_schema=False)
    app.add_api_route("/i/{token}", choose_language, methods=["POST"], include_in_schema=False)
    app.add_api_route("/c/{token}", choose_language, methods=["POST"], include_in_schema=False)

    # --- the app's redeem call (L3) -----------------------------------------------------------------------

    def redeem(body: RedeemRequest) -> Provisioning:
        """Redeem an invite: creates this device's SIP account and returns its provisioning document."""
        try:
            done = domain.redeem(runner, settings, body.token, body.display_name, body.recovery_email)
        except domain.RedeemError as exc:
            if exc.status == 422:
                raise ApiError(422, errors=[exc.detail]) from None
            raise ApiError(exc.status, exc.reason, exc.detail) from None
        turn = rest_credentials(options.turn_secret, done.username, options.turn_lifetime_seconds,
                                uris=options.turn_uris)
        return Provisioning(
            sip=SipSection(username=done.username, password=done.password, domain=config.sip_domain,
                           registrars=list(options.registrars)),
            turn=IceServer(**turn.ice_server(), expires_at=turn.expires_at),
            display_name=done.display_name,
            contacts=[CircleMember(**member) for member in
                      domain.circle(runner, done.video_phone_id, config.sip_domain, excluding=done.username)])

    app.add_api_route("/api/v1/redeem", redeem, methods=["POST"], response_model=Provisioning, status_code=201,
                      summary="Redeem an invite link (the app)", tags=["app"],
                      responses={404: {"model": Problem, "description": "unknown link"},
                                 409: {"model": Problem, "description": "recovery e-mail used by another account"},
                                 410: {"model": Problem, "description": "link used, revoked or expired"},
                                 400: {"model": Problems, "description": "the body is not JSON"},
                                 422: {"model": Problems, "description": "a field is missing or malformed"}})

    # --- the provider's API (P14, for the portal and the provider admin) -----------------------------------

    guarded = {"dependencies": [Depends(provider)], "tags": ["provider"]}
    problems = {400: {"model": Problems, "description": "the body is not JSON"},
                401: {"model": Problem, "description": "no or wrong admin token"},
                422: {"model": Problems, "description": "bad input: what is wrong and how to fix it"}}

    def add_video_phone(body: VideoPhoneRequest) -> VideoPhoneCreated:
        """Add a video phone with a SIP account of its own."""
        summary, password = _provisioning(domain.add_video_phone, runner, config.sip_domain, body.name,
                                          body.customer, body.display_name)
        return VideoPhoneCreated(name=body.name, summary=summary, sip_username=body.name, sip_password=password)

    def put_contact(video_phone: Text, contact: Text, body: ContactRequest) -> Summary:
        """Add a contact to a video phone, or update its details (same name)."""
        return Summary(summary=_provisioning(domain.add_contact, runner, video_phone, contact, body.email,
                                             body.mobile, body.phone_only, body.language))

    def issue(body: InviteRequest) -> InviteIssued:
        """Issue an invite link for (contact, video phone), revoking the pair's earlier ones; its message is
        queued in the outbox."""
        issued = _provisioning(domain.issue_invite, runner, settings, body.video_phone, body.contact, body.via,
                               compose)
        return InviteIssued(link=issued.link, channel=issued.channel, recipient=issued.recipient,
                            expires_at=issued.expires_at, revoked=issued.revoked)

    def list_invites(video_phone: Text | None = None) -> list[InviteRow]:
        """Every invite, newest first, with its state and its message's delivery."""
        return [InviteRow(**row) for row in domain.list_invites(runner, video_phone)]

    app.add_api_route("/api/v1/video-phones", add_video_phone, methods=["POST"], status_code=201,
                      response_model=VideoPhoneCreated, responses=problems, summary="Add a video phone", **guarded)
    app.add_api_route("/api/v1/video-phones/{video_phone}/contacts/{contact}", put_contact, methods=["PUT"],
                      response_model=Summary, responses=problems, summary="Add or update a contact", **guarded)
    app.add_api_route("/api/v1/invites", issue, methods=["POST"], status_code=201, response_model=InviteIssued,
                      responses=problems, summary="Issue (or re-issue) an invite", **guarded)
    app.add_api_route("/api/v1/invites", list_invites, methods=["GET"], response_model=list[InviteRow],
                      responses={401: problems[401], 422: problems[422]}, summary="List invites", **guarded)

    # --- conference links (L5-L7) ------------------------------------------------------------------------------

    c = options.conference
    rooms = conference.register(
        app, runner=runner, config=config, signing_key=options.signing_key, turn_secret=options.turn_secret,
        turn_uris=options.turn_uris, turn_lifetime_seconds=options.turn_lifetime_seconds, options=c, page=page,
        provider_guard={**guarded, "responses": problems}, default_language=options.default_language,
        language_cookie=LANGUAGE_COOKIE)
    if rooms is not None and start_outbox:
        background.append(Sweeper(rooms, lambda: conference_domain.rooms_to_keep(runner, int(c.sweep_seconds * 2)),
                                  c.sweep_seconds))

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.content, status_code=exc.status,
                            headers={"WWW-Authenticate": "Bearer"} if exc.status == 401 else None)

    return app


def _provisioning(operation, *args):
    try:
        return operation(*args)
    except ProvisioningError as exc:
        raise ApiError(422, errors=exc.problems) from None


def _gone_text(language: str, state: str, video_phone: str) -> tuple[str, str]:
    t = lambda message, **values: i18n.gettext(language, message, **values)
    if state == "used":
        return (t("This link has already been used"),
                t("Each invitation link sets up one device, once. It was used to set up the app already. To "
                  "set up another phone or tablet for calls with %(video_phone)s, ask for a new link.",
                  video_phone=video_phone))
    if state == "revoked":
        return (t("This link has been revoked"),
                t("A newer invitation for calls with %(video_phone)s replaced this link. Use the newest message "
                  "you received, or ask for a new link.", video_phone=video_phone))
    return (t("This link has expired"),
            t("Invitation links are valid for a limited time. Ask for a new link for calls with %(video_phone)s.",
              video_phone=video_phone))
