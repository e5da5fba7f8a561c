"""The customer portal and the provider admin (P1-P12, P14, P15): server-rendered pages at the edge's root, in
Polish and English, and a small JSON API under /api/v1/portal/. Every read and change is a rtcstack.domain.portal
operation on the service's own connection, scoped to the logged-in user's customer. Started by uvicorn as
`rtcstack.web.portal:create` (a factory), configured by RTCSTACK_SERVICE_CONFIG.

Sessions live in PostgreSQL (the cookie holds a random token, the table its SHA-256); the cookie is Secure,
HttpOnly and SameSite=Lax. Every form carries a CSRF token (web.csrf)."""

from __future__ import annotations

import csv
import io
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Annotated
from urllib.parse import quote, urlencode

from babel.dates import format_datetime, get_day_names
from babel.numbers import format_decimal
from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from zoneinfo import ZoneInfo

from ..db.models import PROFILE_FIELDS
from ..domain import portal as domain
from ..domain import portal_features as features
from ..domain.links import LinkSettings
from ..domain.portal import Filters, PortalError, Scope
from ..domain.problems import Problem, translate
from ..domain import money as money_rules
from ..domain.provisioning import ProvisioningError
from . import csrf, i18n, logs
from .app import create_app, engine_for
from .config import ServiceConfig
from .db import EngineRunner
from .registrars import Registrars
from .messages import InviteMessages, password_message

SESSION_COOKIE = "portal_session"
LANGUAGE_COOKIE = "lang"
STATIC = "/static"
Field_ = Annotated[str, Form(max_length=4000)]
Short = Annotated[str, Form(max_length=254)]
Count = Annotated[int, Form(ge=0, le=100000)]
RingSeconds = Annotated[int, Form(ge=1, le=1000)]  # the rule (5 to 120) is domain.features', with its message
#: Member rows of the ring group form (members beyond them are added after saving).
MEMBER_ROWS = 8
#: Largest greeting upload (a minute of 48 kHz stereo 16-bit WAV is 11 MB).
GREETING_BYTES = 12 * 2**20


class PortalOptions(BaseModel):
    """The portal's part of its configuration file (written by the deploy from `portal.*`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    session_key: str = Field(description="signs the CSRF tokens of the portal's forms")
    outbox_key: str = Field(description="the links signing key: password-link e-mails are sealed with it")
    service_name: str = "rtcstack"
    support_contact: str = ""
    default_language: str = "pl"
    currency: str = "PLN"
    channels: int = Field(300, description="the deployment's channel count (a customer's subscription's ceiling)")
    session_hours: int = 12
    link_hours: int = 24
    failures_per_account: int = 5
    failures_per_address: int = 20
    throttle_minutes: int = 15
    registrars: tuple[str, ...] = Field((), description="JSON-RPC URLs of the registrars (live lamps, R2)")
    registrar_rpc_token: str = ""
    lamp_good_rtt_ms: int = 100
    lamp_severe_rtt_ms: int = 400
    keepalive_interval_seconds: int = 30
    ban_seconds: int = Field(300, description="how long the registrars ban a flooding address (registrar.ban_seconds)")
    invite_days: int = Field(14, description="days an invite link issued from the portal stays valid (links.*)")
    channel_price: Decimal = Field(Decimal("25.00"), description="billing.channel_price")
    pack_price: Decimal = Field(Decimal("90.00"), description="billing.pack_price")
    pack_prefixes: tuple[str, ...] = Field(("1",), description="billing.pack_prefixes")
    increment_seconds: int = Field(60, description="billing.increment_seconds")
    employees_per_channel: int = Field(4, description="billing.employees_per_channel")
    voicemail_apis: dict[str, str] = Field(default_factory=dict, description="each voicemail host's API by host name")
    voicemail_token: str = ""

    @property
    def prices(self):
        from ..domain.money import Prices

        return Prices(channel=self.channel_price, pack=self.pack_price)


class Redirect(Exception):
    def __init__(self, location: str):
        self.location = location


class LampRow(BaseModel):
    id: int
    username: str
    lamp: str = Field(description="grey, blue, green, yellow or red (R2)")
    rtt_ms: float | None
    international: bool
    max_rate: Decimal | None


def create() -> FastAPI:
    config = ServiceConfig.load()
    logs.configure(config.service)
    return create_portal_app(config)


def create_portal_app(config: ServiceConfig, engine=None) -> FastAPI:
    options = PortalOptions.model_validate(config.options)
    engine = engine or engine_for(config)
    db = EngineRunner(engine)
    app = create_app(config, engine, api="/api/v1/portal")  # the edge sends the rest of /api/v1/ to links
    limits = domain.Limits(session_hours=options.session_hours, link_hours=options.link_hours,
                           failures_per_account=options.failures_per_account,
                           failures_per_address=options.failures_per_address,
                           throttle_minutes=options.throttle_minutes)
    lamps = Registrars(options.registrars, options.registrar_rpc_token, options.lamp_good_rtt_ms,
                       options.lamp_severe_rtt_ms, options.keepalive_interval_seconds, options.ban_seconds)
    app.mount(STATIC, StaticFiles(directory=i18n.HERE / "static"), name="static")

    # --- who asks, in which language --------------------------------------------------------------------

    def address(request: Request) -> str:
        return request.client.host if request.client else ""

    def who(request: Request) -> tuple[Scope, object] | None:
        found = domain.session_scope(db, request.cookies.get(SESSION_COOKIE, ""))
        return found

    def language_of(request: Request, scope: Scope | None = None) -> str:
        return i18n.negotiate((scope.language if scope else None) or request.cookies.get(LANGUAGE_COOKIE),
                              request.headers.get("accept-language"), options.default_language)

    def need(request: Request, customer: bool = False, provider: bool = False) -> tuple[Scope, object]:
        found = who(request)
        if found is None:
            raise Redirect("/login?" + urlencode({"next": request.url.path}))
        scope = found[0]
        if (customer and scope.customer_id is None) or (provider and not scope.provider):
            raise PortalError(404, [Problem("no such page")])
        return found

    def page(request: Request, template: str, scope: Scope | None = None, status: int = 200,
             **context) -> HTMLResponse:
        language = language_of(request, scope)
        zone = ZoneInfo(scope.time_zone if scope else "UTC")
        nonce, fresh = csrf.nonce(request)

        def when(value) -> str:
            moment = domain.when(value) if isinstance(value, str) else value
            return format_datetime(moment, "yyyy-MM-dd HH:mm", tzinfo=zone, locale=language) if moment else ""

        def money(value) -> str:
            return format_decimal(Decimal(value), "#,##0.00", locale=language) + " " + options.currency

        def explain(problem: str) -> str:
            return translate(problem, i18n.translations(language).gettext)

        def rate(value) -> str:
            return format_decimal(Decimal(value), "#,##0.00##", locale=language) if value is not None else ""

        done = request.query_params
        notice = context.pop("notice", None) or (
            i18n.gettext(language, "Saved.") if "saved" in done else
            i18n.gettext(language, "The balance is topped up and the entry is in the ledger.") if "topped_up" in done else
            i18n.gettext(language, "The customer is added.") if "added" in done else
            i18n.gettext(language, "Bought: the new term runs from now, and the balance shows the charge and any refund.")
            if "bought" in done else
            i18n.gettext(language, "Cancelled: the subscription runs to the end of its term and does not renew.")
            if "cancelled" in done else
            i18n.gettext(language, "The user is added; the link to set a password is on its way.") if "invited" in done
            else i18n.gettext(language, "The invite is on its way; an earlier link of this contact no longer works.")
            if "invite_sent" in done else
            i18n.gettext(language, "The message is deleted.") if "deleted" in done else
            i18n.gettext(language, "The greeting is saved: callers hear it from the next call.") if "greeting" in done else
            i18n.gettext(language, "The ban is lifted.") if done.get("lifted", "0") not in ("", "0") else
            i18n.gettext(language, "No registrar holds a ban on this address.") if "lifted" in done else None)
        html = i18n.render(f"portal/{template}", language, notice=notice, service=options.service_name,
                           support=options.support_contact, static=STATIC, scope=scope,
                           path=request.url.path, csrf_token=csrf.token(options.session_key, nonce),
                           when=when, money=money, rate=rate, explain=explain, form_action="/language",
                           language_next=request.url.path, status=status,
                           balance=context.pop("balance", None), ledger_kinds=ledger_kinds(language),
                           channel_price=options.channel_price, pack_price=options.pack_price, **context)
        response = HTMLResponse(html, status_code=status,
                                headers={"Cache-Control": "no-store", "Content-Language": language})
        if fresh:
            csrf.set_cookie(response, nonce)
        return response

    def ledger_kinds(language: str) -> dict[str, str]:
        return {"top_up": i18n.gettext(language, "Top-up"), "adjustment": i18n.gettext(language, "Adjustment"),
                "correction": i18n.gettext(language, "Correction"),
                "purchase": i18n.gettext(language, "Subscription purchase"),
                "refund": i18n.gettext(language, "Pro-rata refund"),
                "renewal": i18n.gettext(language, "Subscription renewal"),
                "call": i18n.gettext(language, "Call charge")}

    def form_ok(request: Request, token: str) -> None:
        csrf.verify(request, token, options.session_key)

    def balance_of(scope: Scope) -> Decimal | None:
        return domain.dashboard(db, scope, recent=0)["balance"] if scope.customer_id else None

    # --- P1: login, logout, forgotten password, password links ---------------------------------------------

    def home(request: Request):
        found = who(request)
        if found is None:
            return RedirectResponse("/login", status_code=303)
        return RedirectResponse("/admin" if found[0].provider else "/dashboard", status_code=303)

    def login_form(request: Request, next: str = "/"):
        if who(request):
            return home(request)
        return page(request, "login.html", next=_safe_next(next))

    def login(request: Request, email: Short, password: Short, csrf_token: Short = "", next: Short = "/"):
        form_ok(request, csrf_token)
        try:
            scope = domain.authenticate(db, email, password, address(request), limits)
        except PortalError as exc:
            message = (i18n.gettext(language_of(request, None), "Too many failed logins. Try again in %(minutes)s minutes.",
                         minutes=options.throttle_minutes) if exc.status == 429
                       else i18n.gettext(language_of(request, None), "The e-mail or the password is not right."))
            return page(request, "login.html", status=exc.status, error=message, email=email, next=_safe_next(next))
        token = domain.open_session(db, scope, address(request), limits)
        target = _safe_next(next)
        if target == "/":
            target = "/admin" if scope.provider else "/dashboard"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, token, max_age=options.session_hours * 3600, secure=True, httponly=True,
                            samesite="lax", path="/")
        return response

    def logout(request: Request, csrf_token: Short = ""):
        form_ok(request, csrf_token)
        domain.end_session(db, request.cookies.get(SESSION_COOKIE, ""))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
        return response

    def forgot_form(request: Request):
        return page(request, "forgot.html")

    def forgot(request: Request, email: Short, csrf_token: Short = ""):
        form_ok(request, csrf_token)
        language = language_of(request)
        user = domain.find_user(db, email)
        if user:
            send_link(user["id"], user["email"], "reset", user["language"] or language)
        # The same answer whether or not the address has an account: the page tells nobody who is a customer.
        return page(request, "forgot.html", sent=True)

    def send_link(user_id: int, email: str, purpose: str, language: str) -> str:
        token, expires = domain.issue_link(db, user_id, purpose, limits.link_hours)
        domain.queue_email(db, options.outbox_key, email,
                           password_message(language, purpose, email, f"{config.public_url}/reset/{token}", expires,
                                            options.service_name, options.support_contact))
        return token

    def reset_form(request: Request, token: str):
        target = domain.link_target(db, token)
        if target is None:
            return page(request, "link_gone.html", status=410)
        return page(request, "reset.html", email=target["email"], purpose=target["purpose"], token_path=request.url.path)

    def reset(request: Request, token: str, password: Short, confirm: Short, csrf_token: Short = ""):
        form_ok(request, csrf_token)
        target = domain.link_target(db, token)
        try:
            domain.set_password_with_link(db, token, password, confirm)
        except PortalError as exc:
            if exc.status == 410:
                return page(request, "link_gone.html", status=410)
            return page(request, "reset.html", status=422, errors=exc.problems, email=target["email"],
                        purpose=target["purpose"], token_path=request.url.path)
        return page(request, "login.html",
                    notice=i18n.gettext(language_of(request, None), "Your password is set. Log in with it."),
                    email=target["email"], next="/")

    def choose_language(request: Request, language: Short, csrf_token: Short = "", next: Short = "/"):
        form_ok(request, csrf_token)
        response = RedirectResponse(_safe_next(next), status_code=303)
        if language in i18n.LANGUAGES:
            response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 86400, secure=True, httponly=True,
                                samesite="lax", path="/")
            found = who(request)
            if found:  # a logged-in user's choice is their setting (P4)
                domain.save_settings(db, found[0], found[0].time_zone, language)
        return response

    for path, endpoint, methods in (
            ("/", home, ["GET"]), ("/login", login_form, ["GET"]), ("/login", login, ["POST"]),
            ("/logout", logout, ["POST"]), ("/forgot", forgot_form, ["GET"]), ("/forgot", forgot, ["POST"]),
            ("/reset/{token}", reset_form, ["GET"]), ("/reset/{token}", reset, ["POST"]),
            ("/language", choose_language, ["POST"])):
        app.add_api_route(path, endpoint, methods=methods, include_in_schema=False)

    # --- P2-P7, P11, P12: the customer's pages -----------------------------------------------------------------

    def dashboard(request: Request):
        scope, _ = need(request, customer=True)
        data = domain.dashboard(db, scope)
        return page(request, "dashboard.html", scope, data=data, balance=data["balance"])

    def profile_form(request: Request):
        scope, _ = need(request, customer=True)
        return page(request, "profile.html", scope, values=domain.profile(db, scope), fields=PROFILE_FIELDS,
                    balance=balance_of(scope))

    async def profile_save(request: Request):
        scope, _ = need(request, customer=True)
        form = await request.form()
        form_ok(request, str(form.get("csrf_token", "")))
        values = {k: str(form.get(k, "")) for k in PROFILE_FIELDS}
        try:
            domain.save_profile(db, scope, values)
        except PortalError as exc:
            return page(request, "profile.html", scope, status=exc.status, values=values, fields=PROFILE_FIELDS,
                        errors=exc.problems, balance=balance_of(scope))
        return page(request, "profile.html", scope, values=domain.profile(db, scope), fields=PROFILE_FIELDS,
                    notice=i18n.gettext(language_of(request, scope), "Saved."), balance=balance_of(scope))

    def settings_form(request: Request):
        return settings_view(request)

    def settings_view(request: Request, status: int = 200, **context):
        scope, reauthenticated = need(request)
        unlocked = bool(reauthenticated and (datetime.now(reauthenticated.tzinfo) - reauthenticated).total_seconds()
                        < limits.reauth_minutes * 60)
        return page(request, "settings.html", scope, status=status, zones=domain.time_zones(), unlocked=unlocked,
                    accounts=domain.accounts(db, scope) if scope.customer_id and unlocked else [],
                    balance=balance_of(scope), **context)

    def settings_save(request: Request, time_zone: Short, language: Short = "", csrf_token: Short = ""):
        scope, _ = need(request)
        form_ok(request, csrf_token)
        try:
            domain.save_settings(db, scope, time_zone, language or None)
        except PortalError as exc:
            return settings_view(request, status=exc.status, errors=exc.problems)
        response = RedirectResponse("/settings?saved=1", status_code=303)
        if language in i18n.LANGUAGES:
            response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 86400, secure=True, httponly=True,
                                samesite="lax", path="/")
        return response

    def settings_unlock(request: Request, password: Short, csrf_token: Short = ""):
        scope, _ = need(request)
        form_ok(request, csrf_token)
        try:
            domain.reauthenticate(db, scope, request.cookies.get(SESSION_COOKIE, ""), password)
        except PortalError:
            return settings_view(request, status=422, unlock_error=True)
        return RedirectResponse("/settings#sip-passwords", status_code=303)

    def sip_password_new(request: Request, account_id: int, csrf_token: Short = ""):
        scope, reauthenticated = need(request, customer=True)
        form_ok(request, csrf_token)
        if not reauthenticated or (datetime.now(reauthenticated.tzinfo) - reauthenticated).total_seconds() \
                >= limits.reauth_minutes * 60:
            return settings_view(request, status=403)
        username, password = domain.new_sip_password(db, scope, account_id, config.sip_domain)
        return settings_view(request, new_password={"username": username, "password": password})

    def password_form(request: Request):
        scope, _ = need(request)
        return page(request, "password.html", scope, balance=balance_of(scope))

    def password_save(request: Request, old: Short, new: Short, confirm: Short, csrf_token: Short = ""):
        scope, _ = need(request)
        form_ok(request, csrf_token)
        try:
            domain.change_password(db, scope, old, new, confirm)
        except PortalError as exc:
            return page(request, "password.html", scope, status=exc.status, errors=exc.problems,
                        balance=balance_of(scope))
        response = page(request, "login.html", notice=i18n.gettext(language_of(request, scope),
                                                                   "Your password is changed. Log in with the "
                                                                   "new one."), email=scope.email, next="/")
        response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="lax")
        return response

    def accounts_page(request: Request):
        scope, _ = need(request, customer=True)
        rows = domain.accounts(db, scope)
        return page(request, "accounts.html", scope, rows=rows, lamps=lamps.for_accounts(rows),
                    balance=balance_of(scope), good=options.lamp_good_rtt_ms, severe=options.lamp_severe_rtt_ms)

    def lamps_fragment(request: Request):
        scope, _ = need(request, customer=True)
        rows = domain.accounts(db, scope)
        return page(request, "lamps.html", scope, rows=rows, lamps=lamps.for_accounts(rows))

    def account_form(request: Request, account_id: int):
        return account_view(request, account_id)

    def account_view(request: Request, account_id: int, status: int = 200, **context):
        scope, _ = need(request, customer=True)
        return page(request, "account.html", scope, status=status, row=domain.account(db, scope, account_id),
                    balance=balance_of(scope), calls=features.account_features(db, scope, account_id),
                    switches=features.switches(db, scope), **context)

    def account_save(request: Request, account_id: int, max_rate: Short = "", international: Short = "",
                     dnd: Short = "", voicemail: Short = "", ring_seconds: RingSeconds = 20, csrf_token: Short = ""):
        scope, _ = need(request, customer=True)
        form_ok(request, csrf_token)
        try:
            domain.set_account_switches(db, scope, account_id, international == "on",
                                        domain.parse_rate(max_rate, "max_rate"))
            features.set_account_features(db, scope, account_id, dnd == "on", voicemail == "on", ring_seconds)
        except PortalError as exc:
            if exc.status == 404:
                raise
            return account_view(request, account_id, status=exc.status, errors=exc.problems)
        return RedirectResponse(f"/accounts/{account_id}?saved=1", status_code=303)

    def numbers_page(request: Request):
        return numbers_view(request)

    def numbers_view(request: Request, status: int = 200, **context):
        scope, _ = need(request, customer=True)
        return page(request, "numbers.html", scope, status=status, rows=features.numbers(db, scope),
                    groups=features.ring_groups(db, scope), accounts=features.account_names(db, scope),
                    balance=balance_of(scope), **context)

    def number_route(request: Request, number: Short, target: Short, csrf_token: Short = ""):
        scope, _ = need(request, customer=True)
        form_ok(request, csrf_token)
        try:
            features.route_number(db, scope, number, target)
        except PortalError as exc:
            return numbers_view(request, status=exc.status, errors=exc.problems)
        return RedirectResponse("/numbers?saved=1", status_code=303)

    def ring_group_form(request: Request, name: str = Query("", max_length=64)):
        return ring_group_view(request, name)

    def ring_group_view(request: Request, name: str = "", status: int = 200, **context):
        scope, _ = need(request, customer=True)
        group = features.ring_group(db, scope, name) if name else None
        return page(request, "ring_group.html", scope, status=status, group=group, balance=balance_of(scope),
                    accounts=features.account_names(db, scope), switches=features.switches(db, scope), **context)

    async def ring_group_save(request: Request):
        scope, _ = need(request, customer=True)
        form = await request.form()
        form_ok(request, str(form.get("csrf_token", "")))
        name = str(form.get("name", ""))[:64].strip()
        members = []
        for i in range(MEMBER_ROWS):
            user = str(form.get(f"member_{i}", ""))[:64]
            seconds = str(form.get(f"seconds_{i}", "20"))[:4]
            if user:
                members.append((user, int(seconds) if seconds.isdigit() else 0))
        try:
            features.save_ring_group(db, scope, name, members, str(form.get("display_name", ""))[:64],
                                     str(form.get("fallback", "busy"))[:16], str(form.get("fallback_account", ""))[:64])
        except PortalError as exc:
            return ring_group_view(request, status=exc.status, errors=exc.problems, values=form)
        return RedirectResponse(f"/numbers?saved={quote(name)}", status_code=303)

    def ring_group_remove(request: Request, name: Short, csrf_token: Short = ""):
        scope, _ = need(request, customer=True)
        form_ok(request, csrf_token)
        features.remove_ring_group(db, scope, name)
        return RedirectResponse("/numbers", status_code=303)

    # --- P8: selective call routing, P10: voicemail ------------------------------------------------------------

    def routing_page(request: Request):
        return routing_view(request)

    def routing_view(request: Request, status: int = 200, **context):
        scope, _ = need(request, customer=True)
        days = get_day_names("wide", locale=language_of(request, scope))
        return page(request, "routing.html", scope, status=status, rules=features.rules(db, scope),
                    day_names=[days[i] for i in range(7)],
                    switches=features.switches(db, scope), accounts=features.account_names(db, scope),
                    groups=features.ring_groups(db, scope), balance=balance_of(scope), **context)

    async def routing_add(request: Request):
        scope, _ = need(request, customer=True)
        form = await request.form()
        form_ok(request, str(form.get("csrf_token", "")))
        try:
            features.add_rule(db, scope, str(form.get("account", ""))[:64], str(form.get("callers", ""))[:64],
                              [str(d) for d in form.getlist("days")][:7], str(form.get("starts", ""))[:5],
                              str(form.get("ends", ""))[:5], str(form.get("target", ""))[:64])
        except PortalError as exc:
            return routing_view(request, status=exc.status, errors=exc.problems, values=form)
        return RedirectResponse("/routing?saved=1", status_code=303)

    def routing_remove(request: Request, account: Short, position: Annotated[int, Form(ge=1, le=100000)],
                       csrf_token: Short = ""):
        scope, _ = need(request, customer=True)
        form_ok(request, csrf_token)
        features.remove_rule(db, scope, account, position)
        return RedirectResponse("/routing", status_code=303)

    def voicemail_page(request: Request):
        return voicemail_view(request)

    def voicemail_view(request: Request, status: int = 200, **context):
        scope, _ = need(request, customer=True)
        rows = domain.accounts(db, scope)
        return page(request, "voicemail.html", scope, status=status, messages=features.messages(db, scope),
                    switches=features.switches(db, scope), accounts=rows, greetings=features.greetings(db, scope),
                    balance=balance_of(scope), **context)

    def voicemail_audio(request: Request, message_id: int):
        scope, _ = need(request, customer=True)
        found = features.message(db, scope, message_id)
        data = voicemail_host(found.host, "GET", f"/messages/{message_id}/audio")
        features.mark_heard(db, found)
        return Response(data, media_type="audio/wav", headers={"Cache-Control": "private, no-store"})

    def voicemail_delete(request: Request, message_id: int, csrf_token: Short = ""):
        scope, _ = need(request, customer=True)
        form_ok(request, csrf_token)
        found = features.message_removed(db, scope, message_id)
        voicemail_host(found.host, "DELETE", f"/messages/{message_id}")
        return RedirectResponse("/voicemail?deleted=1", status_code=303)

    def greeting_audio(request: Request, account_id: int):
        scope, _ = need(request, customer=True)
        data = features.greeting_audio(db, scope, account_id)
        if data is None:
            raise StarletteHTTPException(404)
        return Response(data, media_type="audio/wav", headers={"Cache-Control": "private, no-store"})

    async def greeting_save(request: Request, account_id: int):
        scope, _ = need(request, customer=True)
        features.account_features(db, scope, account_id)  # another customer's account: 404 before anything
        form = await request.form(max_files=1, max_fields=16)
        form_ok(request, str(form.get("csrf_token", "")))
        upload = form.get("greeting")
        try:
            if upload is None or isinstance(upload, str):
                raise PortalError(422, [Problem("choose a WAV file to upload")])
            data = await upload.read(GREETING_BYTES + 1)
            if len(data) > GREETING_BYTES:
                raise PortalError(422, [Problem("the file is larger than %(limit)s MB", limit=GREETING_BYTES // 2**20)])
            features.save_greeting(db, scope, account_id, data)
        except PortalError as exc:
            if exc.status == 404:
                raise
            return voicemail_view(request, status=exc.status, errors=exc.problems)
        return RedirectResponse("/voicemail?greeting=1", status_code=303)

    def greeting_remove(request: Request, account_id: int, csrf_token: Short = ""):
        scope, _ = need(request, customer=True)
        form_ok(request, csrf_token)
        features.remove_greeting(db, scope, account_id)
        return RedirectResponse("/voicemail", status_code=303)

    def voicemail_host(host: str, method: str, path: str) -> bytes:
        """A call to the voicemail host holding a message (its API answers portal hosts only, with the token)."""
        base = options.voicemail_apis.get(host)
        if not base:
            raise PortalError(503, [Problem("the voicemail host of this message is not in the deployment")])
        call = urllib.request.Request(base + path, method=method,
                                      headers={"Authorization": f"Bearer {options.voicemail_token}"})
        try:
            with urllib.request.urlopen(call, timeout=10) as answer:
                return answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise StarletteHTTPException(404) from None
            raise PortalError(502, [Problem("the voicemail host answered %(status)s", status=exc.code)]) from None
        except OSError as exc:
            raise PortalError(503, [Problem("the voicemail host does not answer: %(detail)s", detail=str(exc))]) from None

    for path, endpoint, methods in (
            ("/numbers", number_route, ["POST"]), ("/numbers/groups", ring_group_form, ["GET"]),
            ("/numbers/groups", ring_group_save, ["POST"]), ("/numbers/groups/remove", ring_group_remove, ["POST"]),
            ("/routing", routing_page, ["GET"]), ("/routing", routing_add, ["POST"]),
            ("/routing/remove", routing_remove, ["POST"]), ("/voicemail", voicemail_page, ["GET"]),
            ("/voicemail/{message_id}/audio", voicemail_audio, ["GET"]),
            ("/voicemail/{message_id}/delete", voicemail_delete, ["POST"]),
            ("/voicemail/greetings/{account_id}", greeting_audio, ["GET"]),
            ("/voicemail/greetings/{account_id}", greeting_save, ["POST"]),
            ("/voicemail/greetings/{account_id}/remove", greeting_remove, ["POST"])):
        app.add_api_route(path, endpoint, methods=methods, include_in_schema=False)

    def billing_page(request: Request, start: str = Query("", alias="from", max_length=20),
                     end: str = Query("", alias="to", max_length=20), account: str = Query("", max_length=20),
                     direction: str = Query("", max_length=8), answered: str = Query("", max_length=8),
                     page_number: int = Query(0, alias="page", ge=0, le=100000)):
        scope, _ = need(request, customer=True)
        chosen = {"from": start, "to": end, "account": account, "direction": direction, "answered": answered}
        try:
            filters = Filters.parse(start, end, account, direction, answered)
        except PortalError as exc:
            return page(request, "billing.html", scope, status=422, errors=exc.problems, rows=[], more=False,
                        chosen=chosen, accounts=domain.accounts(db, scope), page_number=0, query="",
                        balance=balance_of(scope))
        if filters.account_id is not None:
            domain.account(db, scope, filters.account_id)  # another customer's account: 404
        rows, more = domain.billing_rows(db, scope, filters, page_number)
        query = urlencode({k: v for k, v in chosen.items() if v})
        return page(request, "billing.html", scope, rows=rows, more=more, chosen=chosen, page_number=page_number,
                    accounts=domain.accounts(db, scope), query=query, balance=balance_of(scope))

    def billing_csv(request: Request, start: str = Query("", alias="from", max_length=20),
                    end: str = Query("", alias="to", max_length=20), account: str = Query("", max_length=20),
                    direction: str = Query("", max_length=8), answered: str = Query("", max_length=8)):
        scope, _ = need(request, customer=True)
        filters = Filters.parse(start, end, account, direction, answered)
        if filters.account_id is not None:
            domain.account(db, scope, filters.account_id)  # another customer's account: 404
        statement = domain.billing_statement(scope, filters, scope.time_zone)
        return StreamingResponse(_csv_rows(engine, statement), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": 'attachment; filename="billing-history.csv"',
                                          "Cache-Control": "no-store"})

    def services_page(request: Request, q: str = Query("", max_length=64),
                      page_number: int = Query(0, alias="page", ge=0, le=100000)):
        return services_view(request, q, page_number)

    def services_view(request: Request, q: str = "", page_number: int = 0, status: int = 200, **context):
        scope, _ = need(request, customer=True)
        rows, total = domain.tariffs(db, q, page_number)
        return page(request, "services.html", scope, status=status, services=domain.services(db, scope),
                    tariffs=rows, total=total, q=q, page_number=page_number, per_page=50,
                    balance=balance_of(scope), **context)

    def services_save(request: Request, max_rate: Short = "", international: Short = "", csrf_token: Short = ""):
        scope, _ = need(request, customer=True)
        form_ok(request, csrf_token)
        try:
            domain.set_services(db, scope, international == "on", domain.parse_rate(max_rate, "max_rate"))
        except PortalError as exc:
            return services_view(request, status=exc.status, errors=exc.problems)
        return RedirectResponse("/services?saved=1", status_code=303)

    # --- P13: channel subscriptions per SIP profile, and the balance with its ledger --------------------------

    def subscriptions_page(request: Request, employees: int | None = Query(None, ge=1, le=100000)):
        return subscriptions_view(request, employees=employees)

    def subscriptions_view(request: Request, status: int = 200, employees: int | None = None, **context):
        scope, _ = need(request, customer=True)
        suggested = (money_rules.suggested_channels(employees, options.employees_per_channel)
                     if employees else None)
        return page(request, "subscriptions.html", scope, status=status, profiles=domain.subscriptions(db, scope),
                    employees=employees, suggested=suggested, employees_per_channel=options.employees_per_channel,
                    pack_minutes=money_rules.PACK_MINUTES, pack_prefixes=options.pack_prefixes,
                    balance=balance_of(scope), **context)

    def subscription_quote(request: Request, profile_id: int, channels: Count, packs: Count = 0,
                           csrf_token: Short = ""):
        scope, _ = need(request, customer=True)
        form_ok(request, csrf_token)
        chosen = domain.subscription_profile(db, scope, profile_id)
        try:
            q = domain.quote_subscription(db, scope, options.prices, options.channels, profile_id, channels, packs)
        except PortalError as exc:
            if exc.status == 404:
                raise
            return subscriptions_view(request, status=exc.status, errors=exc.problems, failed_profile=profile_id)
        return page(request, "subscription_confirm.html", scope, profile=chosen, quote=q, balance=balance_of(scope),
                    pack_minutes=money_rules.PACK_MINUTES)

    def subscription_buy(request: Request, profile_id: int, channels: Count, packs: Count = 0, csrf_token: Short = ""):
        scope, _ = need(request, customer=True)
        form_ok(request, csrf_token)
        domain.subscription_profile(db, scope, profile_id)
        try:
            domain.buy_subscription(db, scope, options.prices, options.channels, profile_id, channels, packs)
        except PortalError as exc:
            if exc.status == 404:
                raise
            return subscriptions_view(request, status=exc.status, errors=exc.problems, failed_profile=profile_id)
        return RedirectResponse("/subscriptions?bought=1", status_code=303)

    def subscription_cancel_form(request: Request, profile_id: int):
        scope, _ = need(request, customer=True)
        chosen = domain.subscription_profile(db, scope, profile_id)
        try:
            term = domain.cancel_subscription(db, scope, profile_id, confirm=False)
        except PortalError as exc:
            if exc.status == 404:
                raise
            return subscriptions_view(request, status=exc.status, errors=exc.problems)
        return page(request, "subscription_cancel.html", scope, profile=chosen, term=term, balance=balance_of(scope))

    def subscription_cancel(request: Request, profile_id: int, csrf_token: Short = ""):
        scope, _ = need(request, customer=True)
        form_ok(request, csrf_token)
        try:
            domain.cancel_subscription(db, scope, profile_id, confirm=True)
        except PortalError as exc:
            if exc.status == 404:
                raise
            return subscriptions_view(request, status=exc.status, errors=exc.problems)
        return RedirectResponse("/subscriptions?cancelled=1", status_code=303)

    def profile_add(request: Request, name: Short, csrf_token: Short = ""):
        scope, _ = need(request, customer=True)
        form_ok(request, csrf_token)
        try:
            domain.add_sip_profile(db, scope, name)
        except PortalError as exc:
            return subscriptions_view(request, status=exc.status, errors=exc.problems, profile_name=name)
        return RedirectResponse("/subscriptions?saved=1", status_code=303)

    def balance_page(request: Request, page_number: int = Query(0, alias="page", ge=0, le=100000)):
        scope, _ = need(request, customer=True)
        amounts, entries = domain.balance_and_ledger(db, scope, page_number)
        return page(request, "balance.html", scope, amounts=amounts, ledger=entries[:50], more=len(entries) > 50,
                    page_number=page_number, balance=amounts.balance)

    for path, endpoint, methods in (
            ("/subscriptions", subscriptions_page, ["GET"]), ("/subscriptions/profiles", profile_add, ["POST"]),
            ("/subscriptions/{profile_id}/quote", subscription_quote, ["POST"]),
            ("/subscriptions/{profile_id}/buy", subscription_buy, ["POST"]),
            ("/subscriptions/{profile_id}/cancel", subscription_cancel_form, ["GET"]),
            ("/subscriptions/{profile_id}/cancel", subscription_cancel, ["POST"]),
            ("/balance", balance_page, ["GET"])):
        app.add_api_route(path, endpoint, methods=methods, include_in_schema=False)

    # --- P14: video phones and their contacts --------------------------------------------------------------

    link_settings = LinkSettings(public_url=config.public_url, realm=config.sip_domain,
                                 signing_key=options.outbox_key, invite_days=options.invite_days)
    compose = InviteMessages(options.service_name, options.support_contact)

    def video_phones_page(request: Request):
        scope, _ = need(request, customer=True)
        return page(request, "video_phones.html", scope, phones=domain.video_phones(db, scope),
                    balance=balance_of(scope))

    def contact_form(request: Request, contact_id: int):
        return contact_view(request, contact_id)

    def contact_view(request: Request, contact_id: int, status: int = 200, **context):
        scope, _ = need(request, customer=True)
        return page(request, "contact.html", scope, status=status, row=domain.contact(db, scope, contact_id),
                    balance=balance_of(scope), **context)

    def contact_save(request: Request, contact_id: int, email: Short = "", mobile: Short = "", language: Short = "pl",
                     csrf_token: Short = ""):
        scope, _ = need(request, customer=True)
        form_ok(request, csrf_token)
        try:
            domain.update_contact(db, scope, contact_id, email, mobile, language)
        except PortalError as exc:
            if exc.status == 404:
                raise
            return contact_view(request, contact_id, status=exc.status, errors=exc.problems,
                                values={"email": email, "mobile": mobile, "language": language})
        return RedirectResponse("/video-phones?saved=1", status_code=303)

    def contact_invite(request: Request, contact_id: int, via: Short = "email", csrf_token: Short = ""):
        scope, _ = need(request, customer=True)
        form_ok(request, csrf_token)
        try:
            domain.invite_contact(db, scope, contact_id, via, link_settings, compose)
        except PortalError as exc:
            if exc.status == 404:
                raise
            return page(request, "video_phones.html", scope, status=exc.status, errors=exc.problems,
                        phones=domain.video_phones(db, scope), balance=balance_of(scope))
        return RedirectResponse("/video-phones?invite_sent=1", status_code=303)

    # --- P9: scheduled conferences ---------------------------------------------------------------------------

    def conferences_page(request: Request, show: str = Query("future", max_length=8),
                         page_number: int = Query(0, alias="page", ge=0, le=100000)):
        return conferences_view(request, show, page_number)

    def conferences_view(request: Request, show: str = "future", page_number: int = 0, status: int = 200,
                         **context):
        scope, _ = need(request, customer=True)
        rows, total = domain.conferences(db, scope, show, page_number, config.public_url, options.outbox_key)
        created = request.query_params.get("created", "")
        return page(request, "conferences.html", scope, status=status, rows=rows, total=total, show=show,
                    page_number=page_number, per_page=20, balance=balance_of(scope),
                    created=next((r for r in rows if str(r["id"]) == created), None), **context)

    def conference_add(request: Request, name: Short = "", start: Short = "", duration: Short = "60",
                       csrf_token: Short = ""):
        scope, _ = need(request, customer=True)
        form_ok(request, csrf_token)
        try:
            conference_id, _ = domain.add_conference(db, scope, name, start, duration, config.public_url,
                                                     options.outbox_key)
        except PortalError as exc:
            if exc.status in (403, 404):
                raise
            return conferences_view(request, status=exc.status, errors=exc.problems,
                                    values={"name": name, "start": start, "duration": duration})
        return RedirectResponse(f"/conferences?show=all&created={conference_id}", status_code=303)

    for path, endpoint, methods in (
            ("/conferences", conferences_page, ["GET"]), ("/conferences", conference_add, ["POST"]),
            ("/video-phones", video_phones_page, ["GET"]),
            ("/video-phones/contacts/{contact_id}", contact_form, ["GET"]),
            ("/video-phones/contacts/{contact_id}", contact_save, ["POST"]),
            ("/video-phones/contacts/{contact_id}/invite", contact_invite, ["POST"])):
        app.add_api_route(path, endpoint, methods=methods, include_in_schema=False)

    for path, endpoint, methods in (
            ("/dashboard", dashboard, ["GET"]), ("/profile", profile_form, ["GET"]), ("/profile", profile_save, ["POST"]),
            ("/settings", settings_form, ["GET"]), ("/settings", settings_save, ["POST"]),
            ("/settings/unlock", settings_unlock, ["POST"]),
            ("/settings/sip-password/{account_id}", sip_password_new, ["POST"]),
            ("/password", password_form, ["GET"]), ("/password", password_save, ["POST"]),
            ("/accounts", accounts_page, ["GET"]), ("/accounts/lamps", lamps_fragment, ["GET"]),
            ("/accounts/{account_id}", account_form, ["GET"]), ("/accounts/{account_id}", account_save, ["POST"]),
            ("/numbers", numbers_page, ["GET"]), ("/billing", billing_page, ["GET"]),
            ("/billing.csv", billing_csv, ["GET"]),
            ("/services", services_page, ["GET"]), ("/services", services_save, ["POST"])):
        app.add_api_route(path, endpoint, methods=methods, include_in_schema=False)

    # --- P15: the provider admin ----------------------------------------------------------------------------

    def admin_home(request: Request):
        return admin_view(request)

    def admin_view(request: Request, status: int = 200, **context):
        scope, _ = need(request, provider=True)
        return page(request, "admin.html", scope, status=status, customers=domain.customers(db, scope), **context)

    def admin_customer_add(request: Request, name: Short, channels: Annotated[int, Form(ge=0, le=300)] = 0,
                           top_up: Short = "", csrf_token: Short = ""):
        scope, _ = need(request, provider=True)
        form_ok(request, csrf_token)
        try:
            opening = domain.parse_amount(top_up) if top_up.strip() else None
            domain.add_customer(db, scope, name, channels or None, options.channels, options.prices, opening)
        except (PortalError, ProvisioningError) as exc:
            return admin_view(request, status=422, errors=exc.problems, name=name)
        return RedirectResponse("/admin?added=1", status_code=303)

    def admin_customer(request: Request, customer_id: int):
        return admin_customer_view(request, customer_id)

    def admin_customer_view(request: Request, customer_id: int, status: int = 200, **context):
        scope, _ = need(request, provider=True)
        return page(request, "admin_customer.html", scope, status=status,
                    row=domain.customer(db, scope, customer_id), ledger=domain.ledger(db, scope, customer_id),
                    **context)

    def admin_customer_save(request: Request, customer_id: int, max_rate: Short = "", credit_limit: Short = "0",
                            enabled: Short = "", international: Short = "", selective_routing: Short = "",
                            voicemail_service: Short = "", csrf_token: Short = ""):
        scope, _ = need(request, provider=True)
        form_ok(request, csrf_token)
        try:
            domain.set_customer(db, scope, customer_id, enabled=enabled == "on", international=international == "on",
                                max_rate=domain.parse_rate(max_rate, "max_rate"),
                                credit_limit=domain.parse_rate(credit_limit, "credit_limit") or Decimal(0),
                                selective_routing=selective_routing == "on",
                                voicemail_service=voicemail_service == "on")
        except PortalError as exc:
            if exc.status == 404:
                raise
            return admin_customer_view(request, customer_id, status=exc.status, errors=exc.problems)
        return RedirectResponse(f"/admin/customers/{customer_id}?saved=1", status_code=303)

    def admin_top_up(request: Request, customer_id: int, amount: Short, note: Short = "", kind: Short = "top_up",
                     csrf_token: Short = ""):
        scope, _ = need(request, provider=True)
        form_ok(request, csrf_token)
        try:
            domain.top_up(db, scope, customer_id, domain.parse_amount(amount, signed=kind == "correction"), note,
                          "correction" if kind == "correction" else "top_up")
        except PortalError as exc:
            if exc.status == 404:
                raise
            return admin_customer_view(request, customer_id, status=exc.status, errors=exc.problems)
        return RedirectResponse(f"/admin/customers/{customer_id}?topped_up=1", status_code=303)

    def admin_users(request: Request):
        return admin_users_view(request)

    def admin_users_view(request: Request, status: int = 200, **context):
        scope, _ = need(request, provider=True)
        return page(request, "admin_users.html", scope, status=status, users=domain.portal_users(db, scope),
                    customers=domain.customers(db, scope), **context)

    def admin_user_add(request: Request, email: Short, customer: Short = "", role: Short = "customer_admin",
                       csrf_token: Short = ""):
        scope, _ = need(request, provider=True)
        form_ok(request, csrf_token)
        try:
            user_id = domain.add_user(db, email, customer or None, role)
        except ProvisioningError as exc:
            return admin_users_view(request, status=422, errors=exc.problems, email=email)
        send_link(user_id, email, "set_password", language_of(request, scope))
        return RedirectResponse("/admin/users?invited=1", status_code=303)

    def admin_bans(request: Request, address: str = Query("", max_length=64)):
        return admin_bans_view(request, address)

    def admin_bans_view(request: Request, address: str = "", status: int = 200, **context):
        scope, _ = need(request, provider=True)
        bans = lamps.bans()
        shown = [b for b in bans if not address or b.address == address.strip()]
        return page(request, "admin_bans.html", scope, status=status, bans=shown, total=len(bans),
                    address=address.strip(), **context)

    def admin_unban(request: Request, address: Short, csrf_token: Short = ""):
        scope, _ = need(request, provider=True)
        form_ok(request, csrf_token)
        try:
            lifted = lamps.unban(address.strip())
        except ValueError:
            return admin_bans_view(request, address, status=422, errors=[
                Problem("address %(value)r: an IP address such as 203.0.113.7", value=address)])
        return RedirectResponse(f"/admin/bans?{urlencode({'address': address.strip(), 'lifted': len(lifted)})}",
                                status_code=303)

    def admin_links(request: Request):
        scope, _ = need(request, provider=True)
        return page(request, "admin_links.html", scope, invites=domain.invites(db, scope),
                    conferences=domain.conference_links(db, scope, config.public_url, options.outbox_key))

    for path, endpoint, methods in (
            ("/admin/bans", admin_bans, ["GET"]), ("/admin/bans/unblock", admin_unban, ["POST"]),
            ("/admin/links", admin_links, ["GET"])):
        app.add_api_route(path, endpoint, methods=methods, include_in_schema=False)

    for path, endpoint, methods in (
            ("/admin", admin_home, ["GET"]), ("/admin/customers", admin_customer_add, ["POST"]),
            ("/admin/customers/{customer_id}", admin_customer, ["GET"]),
            ("/admin/customers/{customer_id}", admin_customer_save, ["POST"]),
            ("/admin/customers/{customer_id}/top-up", admin_top_up, ["POST"]),
            ("/admin/users", admin_users, ["GET"]), ("/admin/users", admin_user_add, ["POST"])):
        app.add_api_route(path, endpoint, methods=methods, include_in_schema=False)

    # --- the JSON API (for the lamps and for scripts), with the session cookie --------------------------------

    def api_scope(request: Request) -> Scope:
        found = who(request)
        if found is None or found[0].customer_id is None:
            raise PortalError(401, ["log in to the portal first (the portal_session cookie)"])
        return found[0]

    def api_accounts(request: Request) -> list[LampRow]:
        """The customer's SIP accounts with their live lamps (R2)."""
        scope = api_scope(request)
        rows = domain.accounts(db, scope)
        live = lamps.for_accounts(rows)
        return [LampRow(id=r["id"], username=r["username"], lamp=live[r["username"]][0], rtt_ms=live[r["username"]][1],
                        international=r["international"], max_rate=r["max_rate"]) for r in rows]

    app.add_api_route("/api/v1/portal/accounts", api_accounts, methods=["GET"], response_model=list[LampRow],
                      summary="The customer's SIP accounts and their lamps", tags=["portal"],
                      responses={401: {"description": "not logged in"}})

    # --- errors ----------------------------------------------------------------------------------------------

    @app.exception_handler(Redirect)
    async def redirect(request: Request, exc: Redirect) -> RedirectResponse:
        return RedirectResponse(exc.location, status_code=303)

    http_error = app.exception_handlers[StarletteHTTPException]

    @app.exception_handler(StarletteHTTPException)
    async def not_here(request: Request, exc: StarletteHTTPException) -> Response:
        """A path or method the portal does not have: a page in the visitor's language (the API: JSON)."""
        if request.url.path.startswith("/api/") or exc.status_code not in (403, 404, 405):
            return await http_error(request, exc)
        found = who(request)
        problems = [Problem("the form expired or came from another site; reload the page and send it again")] \
            if exc.status_code == 403 else []
        return page(request, "error.html", found[0] if found else None, status=exc.status_code, problems=problems)

    @app.exception_handler(PortalError)
    async def refused(request: Request, exc: PortalError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"errors": exc.problems}, status_code=exc.status)
        found = who(request)
        return page(request, "error.html", found[0] if found else None, status=exc.status, problems=exc.problems)

    return app


def _safe_next(target: str) -> str:
    """Only a path of this site (never //host or a scheme): no open redirect after login."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target or len(target) > 512:
        return "/"
    return quote(target, safe="/?=&-_.~%")


def _csv_rows(engine, statement) -> Iterator[str]:
    """The CSV of a billing statement, streamed: a server-side cursor, 500 rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(domain.BILLING_COLUMNS)
    yield buffer.getvalue()
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=500).execute(statement)
        for chunk in result.partitions():
            buffer.seek(0)
            buffer.truncate()
            for row in chunk:
                writer.writerow(domain.billing_row(row).values())
            yield buffer.getvalue()
