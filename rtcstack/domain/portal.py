"""The portal's rules as domain operations (P1-P12, P14, P15): portal users and their argon2id passwords,
server-side sessions, single-use password links, login throttling, and every read and change a portal page
makes, each scoped to the user's customer. The CLI (`rtcstack portal-users`) and the portal service call these
same functions through their own SqlRunner; switches are written to the tables Kamailio reads on every call,
so a change reaches the registrar at once.

Scoping: a `Scope` is who asks. Customer pages filter every query by `scope.customer_id`; an object of another
customer is simply not found (the page answers 404, exactly as for an ID that does not exist).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from zoneinfo import available_timezones

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Select, and_, case, delete, exists, func, insert, literal, or_, select, table, column, update
from sqlalchemy.dialects.postgresql import insert as upsert

from ..db.models import (
    PROFILE_FIELDS,
    Cdr,
    ChannelSubscription,
    Contact,
    Customer,
    CustomerProfile,
    Invite,
    LoginFailure,
    Number,
    OutboxMessage,
    PortalSession,
    PortalToken,
    PortalUser,
    SipAccount,
    Tariff,
    VideoPhone,
)
from . import billing, links, money, provisioning
from .links import EMAIL, new_password, seal, sql_literal, token_hash
from .problems import Problem
from .rows import truthy, when
from .provisioning import ProvisioningError, SqlRunner, ha1, password_problem, sql_text

ROLES = ("customer_admin", "customer_user", "provider_admin")
#: Kamailio's usrloc table (db_mode 1: written through): an account with an unexpired row is online.
LOCATION = table("location", column("username"), column("expires"), column("received"), column("contact"),
                 column("user_agent"))

_hasher = PasswordHasher()  # argon2id, RFC 9106's low-memory profile (t=3, 64 MiB, p=4)
#: Verified when the e-mail is unknown, so a wrong address costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class PortalError(Exception):
    """A request the rules refuse; `status` is the HTTP answer a page gives, `problems` name field and fix."""

    def __init__(self, status: int, problems: list[str]):
        super().__init__("; ".join(problems))
        self.status, self.problems = status, problems


@dataclass(frozen=True)
class Limits:
    """Deployment settings the rules need (portal.*)."""

    session_hours: int = 12
    link_hours: int = 24
    failures_per_account: int = 5
    failures_per_address: int = 20
    throttle_minutes: int = 15
    reauth_minutes: int = 5


@dataclass(frozen=True)
class Scope:
    """Who asks: the user and, for customer roles, their customer."""

    user_id: int
    email: str
    role: str
    customer_id: int | None
    customer: str
    time_zone: str
    language: str | None

    @property
    def provider(self) -> bool:
        return self.role == "provider_admin"

    @property
    def manages(self) -> bool:
        """May change the customer's switches and profile (a customer user may only look)."""
        return self.role in ("customer_admin", "provider_admin")


@cache
def time_zones() -> tuple[str, ...]:
    return tuple(sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))))


# --- passwords and users -----------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def portal_password_problem(password: str, email: str) -> str | None:
    """P5's strength rule: the SIP password rule (12+ characters, mixed kinds, not guessable) and not the
    e-mail's local part."""
    local = email.partition("@")[0]
    return password_problem(password, local if len(local) >= 3 else "")


def add_user(db: SqlRunner, email: str, customer: str | None, role: str) -> int:
    """A portal user without a password yet (they set it through a single-use link); returns its ID."""
    email = email.strip()
    problems = []
    if len(email) > 254 or not EMAIL.match(email):
        problems.append(Problem("e-mail %(value)r: not an e-mail address such as jane@example.org", value=email))
    if role not in ROLES:
        problems.append(f"--role {role!r}: one of {', '.join(ROLES)}")
    if (role == "provider_admin") != (customer is None):
        problems.append("a provider admin belongs to no customer; a customer's user needs --customer NAME")
    if problems:
        raise ProvisioningError(problems)
    customer_id = None
    if customer is not None:
        rows = db.query(select(Customer.id).where(Customer.name == customer))
        if not rows:
            raise ProvisioningError([f"--customer {customer!r}: no such customer; add it with `rtcstack customers add`"])
        customer_id = int(rows[0][0])
    if db.query(select(PortalUser.id).where(func.lower(PortalUser.email) == email.lower())):
        raise ProvisioningError([Problem("e-mail %(value)r: a portal user with this address exists (addresses are "
                                         "compared case-insensitively)", value=email)])
    rows = db.query(insert(PortalUser).values(email=email, customer_id=customer_id, role=role)
                    .returning(PortalUser.id))
    return int(rows[0][0])


def find_user(db: SqlRunner, email: str) -> dict | None:
    """An enabled user by e-mail (case-insensitively), for a forgotten password."""
    rows = db.query(select(PortalUser.id, PortalUser.email, PortalUser.language)
                    .where(func.lower(PortalUser.email) == email.strip().lower()[:254], PortalUser.enabled))
    return {"id": int(rows[0][0]), "email": rows[0][1], "language": rows[0][2] or None} if rows else None


def issue_link(db: SqlRunner, user_id: int, purpose: str, hours: int) -> tuple[str, datetime]:
    """A single-use link token to set (or reset) the user's password; earlier unused ones of the user die."""
    token = secrets.token_urlsafe(24)
    expires = (datetime.now(UTC) + timedelta(hours=hours)).replace(microsecond=0)
    db.run("\n".join([
        sql_text(update(PortalToken).where(PortalToken.user_id == user_id, PortalToken.used_at.is_(None))
                 .values(used_at=func.now())),
        sql_text(insert(PortalToken).values(token_sha256=token_hash(token), user_id=user_id, purpose=purpose,
                                            expires_at=expires)),
    ]))
    return token, expires


def queue_email(db: SqlRunner, outbox_key: str, recipient: str, message: dict) -> None:
    """Put an e-mail in the outbox the links hosts drain (sealed: it holds a password link)."""
    db.query(insert(OutboxMessage).values(kind="email", recipient=recipient, body=seal(outbox_key, message)))


def link_target(db: SqlRunner, token: str) -> dict | None:
    """The user a live password link is for (or None: unknown, used or expired)."""
    rows = db.query(select(PortalUser.email, PortalToken.purpose, PortalUser.language)
                    .join(PortalUser, PortalUser.id == PortalToken.user_id)
                    .where(PortalToken.token_sha256 == token_hash(token), PortalToken.used_at.is_(None),
                           PortalToken.expires_at > func.now(), PortalUser.enabled))
    return {"email": rows[0][0], "purpose": rows[0][1], "language": rows[0][2] or None} if rows else None


def set_password_with_link(db: SqlRunner, token: str, password: str, confirm: str) -> str:
    """Spend the link and set the password in one transaction (of two concurrent uses one wins); every session
    of the user ends. Returns the user's e-mail."""
    target = link_target(db, token)
    if target is None:
        raise PortalError(410, [Problem("link: this link was used already or has expired; ask for a new one")])
    _check_new_password(password, confirm, target["email"])
    token_sql, hash_sql = sql_literal(token_hash(token)), sql_literal(hash_password(password))
    rows = db.run(f"""
        WITH spent AS (UPDATE portal_tokens SET used_at = now() WHERE token_sha256 = {token_sql}
                       AND used_at IS NULL AND expires_at > now() RETURNING user_id),
             changed AS (UPDATE portal_users SET password_hash = {hash_sql}, password_changed_at = now()
                         WHERE id IN (SELECT user_id FROM spent) RETURNING id),
             ended AS (DELETE FROM portal_sessions WHERE user_id IN (SELECT id FROM changed))
        SELECT id FROM changed;""")
    if not rows:
        raise PortalError(410, [Problem("link: this link was used already or has expired; ask for a new one")])
    return target["email"]


def _check_new_password(password: str, confirm: str, email: str) -> None:
    if password != confirm:
        raise PortalError(422, [Problem("confirm: the two new passwords differ; type the same password twice")])
    if weak := portal_password_problem(password, email):
        raise PortalError(422, [Problem("password: %(problem)s", problem=weak)])


# --- logging in -------------------------------------------------------------------------------------------


def _scope_query() -> Select:
    return (select(PortalUser.id, PortalUser.email, PortalUser.role, PortalUser.customer_id,
                   func.coalesce(Customer.name, ""), PortalUser.time_zone, PortalUser.language)
            .outerjoin(Customer, Customer.id == PortalUser.customer_id)
            .where(PortalUser.enabled, or_(PortalUser.customer_id.is_(None), Customer.enabled)))


def _scope(row: list[str]) -> Scope:
    return Scope(int(row[0]), row[1], row[2], int(row[3]) if row[3] else None, row[4], row[5], row[6] or None)


def authenticate(db: SqlRunner, email: str, password: str, address: str, limits: Limits) -> Scope:
    """The user whose password this is. Refused (429) while the account or the address has too many recent
    failures, before the password is looked at; a wrong password or an unknown address (401) is recorded."""
    email = email.strip()[:254]
    window = func.now() - timedelta(minutes=limits.throttle_minutes)
    counts = db.query(select(
        select(func.count()).where(func.lower(LoginFailure.email) == email.lower(), LoginFailure.at > window)
        .scalar_subquery(),
        select(func.count()).where(LoginFailure.address == address, LoginFailure.at > window).scalar_subquery()))
    by_account, by_address = (int(n) for n in counts[0])
    if by_account >= limits.failures_per_account or by_address >= limits.failures_per_address:
        raise PortalError(429, [Problem("too many failed logins; try again in %(minutes)s minutes",
                                        minutes=limits.throttle_minutes)])
    rows = db.query(_scope_query().add_columns(PortalUser.password_hash)
                    .where(func.lower(PortalUser.email) == email.lower()))
    stored = rows[0][7] if rows and rows[0][7] else _DUMMY_HASH
    try:
        ok = _hasher.verify(stored, password) and bool(rows and rows[0][7])
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok:
        db.run("\n".join([
            sql_text(insert(LoginFailure).values(email=email, address=address)),
            sql_text(delete(LoginFailure).where(LoginFailure.at < func.now() - timedelta(days=1))),
        ]))
        raise PortalError(401, [Problem("e-mail or password: not right (or the account is disabled)")])
    if _hasher.check_needs_rehash(stored):
        db.query(update(PortalUser).where(PortalUser.id == int(rows[0][0])).values(password_hash=hash_password(password)))
    db.query(delete(LoginFailure).where(func.lower(LoginFailure.email) == email.lower()))
    return _scope(rows[0])


def open_session(db: SqlRunner, scope: Scope, address: str, limits: Limits) -> str:
    """A new session; the cookie holds the token, the table its SHA-256."""
    token = secrets.token_urlsafe(32)
    db.query(insert(PortalSession).values(
        id_sha256=token_hash(token), user_id=scope.user_id, address=address[:45],
        expires_at=func.now() + timedelta(hours=limits.session_hours)))
    return token


def load_user(db: SqlRunner, customer: str, password: str) -> str:
    """The customer user a load test logs in as (`rtcstack load http`), its password set to `password` (derived
    from the load_account_key secret, as the load accounts' are); its e-mail."""
    email = f"load-test@{re.sub(r'[^a-z0-9-]', '-', customer.lower())}.invalid"
    if not find_user(db, email):
        add_user(db, email, customer, "customer_user")
    rows = db.query(select(PortalUser.password_hash).where(func.lower(PortalUser.email) == email))
    try:
        current = bool(rows and rows[0][0] and _hasher.verify(rows[0][0], password))
    except (VerificationError, InvalidHashError):
        current = False
    if not current:
        db.query(update(PortalUser).where(func.lower(PortalUser.email) == email)
                 .values(password_hash=hash_password(password)))
    return email


def load_sessions(db: SqlRunner, customer: str, count: int, limits: Limits) -> list[str]:
    """Sessions of the load test's user opened directly (benchmarks/portal_pages.py measures pages, not
    argon2); the user has a random password unless `load_user` set one."""
    email = f"load-test@{re.sub(r'[^a-z0-9-]', '-', customer.lower())}.invalid"
    if not find_user(db, email):
        add_user(db, email, customer, "customer_user")
    scope = _scope(db.query(_scope_query().where(func.lower(PortalUser.email) == email))[0])
    return [open_session(db, scope, "load test", limits) for _ in range(count)]


def session_scope(db: SqlRunner, token: str) -> tuple[Scope, datetime | None] | None:
    """Who holds this session cookie (and when they last re-entered their password), or None."""
    if not token or len(token) > 64:
        return None
    rows = db.query(_scope_query().add_columns(PortalSession.reauthenticated_at)
                    .join(PortalSession, PortalSession.user_id == PortalUser.id)
                    .where(PortalSession.id_sha256 == token_hash(token), PortalSession.expires_at > func.now()))
    return (_scope(rows[0]), when(rows[0][7])) if rows else None


def end_session(db: SqlRunner, token: str) -> None:
    db.query(delete(PortalSession).where(PortalSession.id_sha256 == token_hash(token)))


def change_password(db: SqlRunner, scope: Scope, old: str, new: str, confirm: str) -> None:
    """P5: the old password, then the new one twice; every session of the user ends (the page logs in again)."""
    rows = db.query(select(PortalUser.password_hash).where(PortalUser.id == scope.user_id))
    try:
        _hasher.verify(rows[0][0] if rows and rows[0][0] else _DUMMY_HASH, old)
    except (VerificationError, InvalidHashError):
        raise PortalError(422, [Problem("old password: not right")]) from None
    _check_new_password(new, confirm, scope.email)
    db.run("\n".join([
        sql_text(update(PortalUser).where(PortalUser.id == scope.user_id)
                 .values(password_hash=hash_password(new), password_changed_at=func.now())),
        sql_text(delete(PortalSession).where(PortalSession.user_id == scope.user_id)),
    ]))


def reauthenticate(db: SqlRunner, scope: Scope, session: str, password: str) -> None:
    """P4: the portal password entered again lets this session see SIP passwords for a few minutes."""
    rows = db.query(select(PortalUser.password_hash).where(PortalUser.id == scope.user_id))
    try:
        _hasher.verify(rows[0][0] if rows and rows[0][0] else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise PortalError(422, [Problem("password: not right")]) from None
    db.query(update(PortalSession).where(PortalSession.id_sha256 == token_hash(session))
             .values(reauthenticated_at=func.now()))


def save_settings(db: SqlRunner, scope: Scope, time_zone: str, language: str | None) -> None:
    """P4: time zone and interface language."""
    problems = []
    if time_zone not in time_zones():
        problems.append(Problem("time zone %(value)r: choose a zone from the list, such as Europe/Warsaw", value=time_zone))
    if language not in (None, "pl", "en"):
        problems.append(Problem("language %(value)r: pl or en", value=language))
    if problems:
        raise PortalError(422, problems)
    db.query(update(PortalUser).where(PortalUser.id == scope.user_id).values(time_zone=time_zone, language=language))


# --- the customer's own pages -----------------------------------------------------------------------------


def _customer(scope: Scope) -> int:
    if scope.customer_id is None:
        raise PortalError(404, [Problem("no such page for a provider user; use the admin area")])
    return scope.customer_id


def dashboard(db: SqlRunner, scope: Scope, recent: int = 10) -> dict:
    """P2: balance, credit limit, account ID, online or offline, contact details, the latest calls."""
    customer = _customer(scope)
    online = exists().where(LOCATION.c.username == SipAccount.username, LOCATION.c.expires > func.now())
    row = db.query(select(Customer.name, Customer.balance, Customer.credit_limit,
                          select(func.count()).where(SipAccount.customer_id == customer, online).scalar_subquery(),
                          select(func.count()).where(SipAccount.customer_id == customer).scalar_subquery(),
                          CustomerProfile.contact, CustomerProfile.email, CustomerProfile.phone,
                          CustomerProfile.city, CustomerProfile.postcode, CustomerProfile.country,
                          CustomerProfile.company)
                   .outerjoin(CustomerProfile, CustomerProfile.customer_id == Customer.id)
                   .where(Customer.id == customer))[0]
    return {"account_id": row[0], "balance": Decimal(row[1]), "credit_limit": Decimal(row[2]),
            "online": int(row[3]), "accounts": int(row[4]),
            "contact": {"contact": row[5], "email": row[6], "phone": row[7],
                        "address": ", ".join(x for x in (row[11], row[9] + " " + row[8], row[10]) if x.strip())},
            "pickup_groups": [],
            "calls": billing_rows(db, scope, Filters(), 0, recent)[0]}


def profile(db: SqlRunner, scope: Scope) -> dict[str, str]:
    """P3: every field, empty where never filled."""
    customer = _customer(scope)
    rows = db.query(select(*(getattr(CustomerProfile, f) for f in PROFILE_FIELDS))
                    .where(CustomerProfile.customer_id == customer))
    return dict(zip(PROFILE_FIELDS, rows[0] if rows else [""] * len(PROFILE_FIELDS)))


def save_profile(db: SqlRunner, scope: Scope, values: dict[str, str]) -> None:
    customer = _refuse_viewer(scope)
    problems = [Problem("%(field)s: unknown field", field=k) for k in values if k not in PROFILE_FIELDS]
    problems += [Problem("%(field)s: at most %(count)s characters", field=k, count=4000 if k == "description" else 254)
                 for k, v in values.items()
                 if len(v) > (4000 if k == "description" else 254)]
    if values.get("email") and not EMAIL.match(values["email"]):
        problems.append(Problem("e-mail %(value)r: not an e-mail address such as jane@example.org", value=values["email"]))
    if problems:
        raise PortalError(422, problems)
    row = {k: values.get(k, "").strip() for k in PROFILE_FIELDS}
    statement = upsert(CustomerProfile).values(customer_id=customer, **row)
    db.query(statement.on_conflict_do_update(index_elements=["customer_id"], set_={**row, "updated_at": func.now()}))


def _refuse_viewer(scope: Scope) -> int:
    customer = _customer(scope)
    if not scope.manages:
        raise PortalError(403, [Problem("your portal user may look but not change; ask your customer admin")])
    return customer


# --- P13: subscriptions and the balance ----------------------------------------------------------------


def _money(call, *args, **kwargs):
    """A billing operation for a page: a refused request is a 422 with its problems, another customer's profile
    a 404 (as one that does not exist)."""
    try:
        return call(*args, **kwargs)
    except money.MoneyError as exc:
        missing = any(p.startswith(("SIP profile ", "no such customer")) and "no such" in p for p in exc.problems)
        raise PortalError(404 if missing else 422, exc.problems) from exc


def subscriptions(db: SqlRunner, scope: Scope) -> list[billing.Profile]:
    return billing.profiles(db, _customer(scope))


def subscription_profile(db: SqlRunner, scope: Scope, profile_id: int) -> billing.Profile:
    return _money(billing.profile, db, _customer(scope), profile_id)


def quote_subscription(db: SqlRunner, scope: Scope, prices: money.Prices, channel_limit: int, profile_id: int,
                       channels: int, packs: int) -> billing.Quote:
    """P13: what buying or changing would do (the rounded count, price, refund, new end), before it is done."""
    customer = _refuse_viewer(scope)
    return _money(billing.quote, db, prices, customer, profile_id, channels, packs, channel_limit)[1]


def buy_subscription(db: SqlRunner, scope: Scope, prices: money.Prices, channel_limit: int, profile_id: int,
                     channels: int, packs: int) -> billing.Quote:
    customer = _refuse_viewer(scope)
    return _money(billing.buy, db, prices, customer, profile_id, channels, packs, scope.email, channel_limit)


def cancel_subscription(db: SqlRunner, scope: Scope, profile_id: int, confirm: bool) -> billing.Term:
    customer = _refuse_viewer(scope) if confirm else _customer(scope)
    return _money(billing.cancel, db, customer, profile_id, scope.email, confirm=confirm)


def add_sip_profile(db: SqlRunner, scope: Scope, name: str) -> billing.Profile:
    return _money(billing.add_profile, db, _refuse_viewer(scope), name)


def balance_and_ledger(db: SqlRunner, scope: Scope, page: int = 0, per_page: int = 50) -> tuple[billing.Balance, list]:
    customer = _customer(scope)
    return billing.balance(db, customer), billing.ledger(db, customer, per_page + 1, page * per_page)


def accounts(db: SqlRunner, scope: Scope) -> list[dict]:
    """P6: the customer's SIP accounts, their switches, and whether each is registered (the live lamp comes
    from the registrars, see `rtcstack.web.lamps`)."""
    customer = _customer(scope)
    online = exists().where(LOCATION.c.username == SipAccount.username, LOCATION.c.expires > func.now())
    rows = db.query(select(SipAccount.id, SipAccount.username, SipAccount.display_name, SipAccount.international,
                           SipAccount.max_rate, SipAccount.enabled, online)
                    .where(SipAccount.customer_id == customer).order_by(SipAccount.username))
    return [{"id": int(r[0]), "username": r[1], "display_name": r[2], "international": truthy(r[3]),
             "max_rate": Decimal(r[4]) if r[4] else None, "enabled": truthy(r[5]), "registered": truthy(r[6])}
            for r in rows]


def account(db: SqlRunner, scope: Scope, account_id: int) -> dict:
    for row in accounts(db, scope):
        if row["id"] == account_id:
            return row
    raise PortalError(404, [Problem("no such account")])


def parse_amount(value: str, signed: bool = False) -> Decimal:
    """An amount of money as typed (a comma is a decimal point too), more than 0 (`signed`: not 0, either way),
    two decimals at most."""
    value = value.strip().replace(",", ".")
    try:
        amount = Decimal(value)
    except InvalidOperation:
        amount = None
    if signed and amount is not None and amount.is_finite() and amount < 0:
        amount = -parse_amount(value.lstrip("-"))
        return amount
    if amount is None or not amount.is_finite() or not 0 < amount < Decimal("1000000") or amount != amount.quantize(
            Decimal("0.01")):
        raise PortalError(422, [Problem("amount %(value)r: more than 0 and less than 1000000, such as 100.00",
                                        value=value)])
    return amount


def parse_rate(value: str, field: str) -> Decimal | None:
    """A per-minute price as typed ('' for none; a comma is a decimal point too)."""
    value = value.strip().replace(",", ".")
    if not value:
        return None
    try:
        rate = Decimal(value)
    except InvalidOperation:
        rate = None
    if rate is None or not rate.is_finite() or rate < 0 or rate >= Decimal("100000000"):
        raise PortalError(422, [Problem("%(field)s %(value)r: a price per minute such as 0.25 (0 or more), or empty "
                                        "for none", field=field, value=value)])
    return rate.quantize(Decimal("0.0001"))


def set_account_switches(db: SqlRunner, scope: Scope, account_id: int, international: bool,
                         max_rate: Decimal | None) -> None:
    """R7/R8 per account: Kamailio reads them on the next call (sip_subscribers)."""
    customer = _refuse_viewer(scope)
    rows = db.query(update(SipAccount).where(SipAccount.id == account_id, SipAccount.customer_id == customer)
                    .values(international=international, max_rate=max_rate).returning(SipAccount.id))
    if not rows:
        raise PortalError(404, [Problem("no such account")])


def new_sip_password(db: SqlRunner, scope: Scope, account_id: int, realm: str) -> tuple[str, str]:
    """P4: SIP passwords are stored as HA1 only (R1), so none can be shown again; a customer admin who
    re-entered the portal password gets a new one for an account, shown once. The device must be set up with it."""
    customer = _refuse_viewer(scope)
    rows = db.query(select(SipAccount.username).where(SipAccount.id == account_id, SipAccount.customer_id == customer))
    if not rows:
        raise PortalError(404, [Problem("no such account")])
    username, password = rows[0][0], new_password()
    db.query(update(SipAccount).where(SipAccount.id == account_id, SipAccount.customer_id == customer)
             .values(ha1=ha1(username, realm, password), ha1_sha256=ha1(username, realm, password, "sha256")))
    return username, password


def numbers(db: SqlRunner, scope: Scope) -> list[dict]:
    """P7: the customer's public numbers and the account each routes to."""
    customer = _customer(scope)
    rows = db.query(select(Number.e164, SipAccount.id, SipAccount.username, SipAccount.display_name)
                    .join(SipAccount, SipAccount.id == Number.account_id)
                    .where(SipAccount.customer_id == customer).order_by(Number.e164))
    return [{"number": "+" + r[0], "account_id": int(r[1]), "account": r[2], "display_name": r[3]} for r in rows]


def services(db: SqlRunner, scope: Scope) -> dict:
    """P12: the customer-wide switches."""
    customer = _customer(scope)
    row = db.query(select(Customer.international, Customer.max_rate, Customer.selective_routing,
                          Customer.voicemail_service).where(Customer.id == customer))[0]
    return {"international": truthy(row[0]), "max_rate": Decimal(row[1]) if row[1] else None,
            "selective_routing": truthy(row[2]), "voicemail_service": truthy(row[3])}


def set_services(db: SqlRunner, scope: Scope, international: bool, max_rate: Decimal | None) -> None:
    customer = _refuse_viewer(scope)
    db.query(update(Customer).where(Customer.id == customer).values(international=international, max_rate=max_rate))


def tariffs(db: SqlRunner, search: str, page: int, per_page: int = 50) -> tuple[list[dict], int]:
    """P12: the tariff table, searched by prefix or description."""
    where = []
    term = search.strip()[:64]
    if term:
        digits = term.lstrip("+")
        where.append(or_(Tariff.prefix.startswith(digits) if digits.isdigit() else literal(False),
                         Tariff.description.ilike(f"%{_like(term)}%", escape="\\")))
    total = int(db.query(select(func.count()).select_from(Tariff).where(*where))[0][0])
    rows = db.query(select(Tariff.prefix, Tariff.price_per_minute, Tariff.description).where(*where)
                    .order_by(Tariff.prefix).offset(page * per_page).limit(per_page))
    return [{"prefix": "+" + r[0], "price": Decimal(r[1]), "description": r[2]} for r in rows], total


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --- billing history (P11) ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """P11's filters: dates (inclusive, in the user's time zone), one account, direction, answered or not."""

    start: date | None = None
    end: date | None = None
    account_id: int | None = None
    direction: str = ""  # "", "out", "in"
    answered: str = ""  # "", "yes", "no"

    @classmethod
    def parse(cls, start: str = "", end: str = "", account: str = "", direction: str = "",
              answered: str = "") -> Filters:
        problems = []

        def day(value: str, name: str) -> date | None:
            if not value:
                return None
            try:
                return date.fromisoformat(value)
            except ValueError:
                problems.append(Problem("%(field)s %(value)r: a date such as 2026-12-01", field=name, value=value))
                return None

        first, last = day(start, "from"), day(end, "to")
        account_id = None
        if account:
            if account.isdigit() and len(account) < 10:
                account_id = int(account)
            else:
                problems.append(Problem("account %(value)r: choose an account from the list", value=account))
        if direction not in ("", "out", "in"):
            problems.append(Problem("direction %(value)r: out, in or empty for both", value=direction))
        if answered not in ("", "yes", "no"):
            problems.append(Problem("answered %(value)r: yes, no or empty for both", value=answered))
        if first and last and first > last:
            problems.append(Problem("from %(start)s: after to %(end)s; swap them", start=start, end=end))
        if problems:
            raise PortalError(422, problems)
        return cls(first, last, account_id, direction, answered)


def billing_statement(scope: Scope, filters: Filters, time_zone: str) -> Select:
    """The customer's CDRs matching `filters`, newest first: outgoing calls are their own accounts' (the CDR's
    customer), incoming ones went to one of their accounts or numbers."""
    from zoneinfo import ZoneInfo

    customer = _customer(scope)
    mine = select(SipAccount.username).where(SipAccount.customer_id == customer)
    my_numbers = select(Number.e164).join(SipAccount, SipAccount.id == Number.account_id).where(
        SipAccount.customer_id == customer)
    outgoing = Cdr.customer_id == customer
    incoming = or_(Cdr.destination.in_(mine), Cdr.destination.in_(my_numbers))
    where = [{"out": outgoing, "in": incoming}.get(filters.direction, or_(outgoing, incoming))]
    zone = ZoneInfo(time_zone)
    if filters.start:
        where.append(Cdr.start_time >= datetime.combine(filters.start, time(), zone))
    if filters.end:
        where.append(Cdr.start_time < datetime.combine(filters.end + timedelta(days=1), time(), zone))
    if filters.account_id is not None:
        account = select(SipAccount.username).where(SipAccount.id == filters.account_id,
                                                    SipAccount.customer_id == customer).scalar_subquery()
        where.append(or_(and_(outgoing, Cdr.account_id == filters.account_id), Cdr.destination == account))
    if filters.answered:
        where.append(Cdr.answer_time.isnot(None) if filters.answered == "yes" else Cdr.answer_time.is_(None))
    direction = outgoing.label("outgoing")
    return (select(Cdr.id, Cdr.start_time, Cdr.caller, Cdr.callee, Cdr.destination, direction, Cdr.answer_time,
                   Cdr.duration_seconds, Cdr.sip_code, Cdr.sip_reason, Cdr.price_per_minute,
                   # what the call cost is the caller's: shown on the customer's own outgoing calls only
                   case((outgoing, Cdr.billable_seconds)), case((outgoing, Cdr.pack_seconds)),
                   case((outgoing, Cdr.cost)))
            .where(*where).order_by(Cdr.start_time.desc(), Cdr.id.desc()))


#: The CSV export's columns (and the names of billing_row's keys).
BILLING_COLUMNS = ("id", "start", "caller", "callee", "destination", "direction", "answered", "duration_seconds",
                   "sip_code", "sip_reason", "price_per_minute", "billable_seconds", "pack_seconds", "cost")


def billing_row(row) -> dict:
    """One CDR of billing_statement as the page and the CSV show it (values as text)."""
    return {"id": str(row[0]), "start": str(row[1]), "caller": row[2], "callee": row[3], "destination": row[4] or "",
            "direction": "out" if truthy(str(row[5])) else "in", "answered": "yes" if row[6] else "no",
            "duration_seconds": str(row[7]), "sip_code": str(row[8]), "sip_reason": row[9],
            "price_per_minute": _text(row[10]), "billable_seconds": _text(row[11]), "pack_seconds": _text(row[12]),
            "cost": _text(money.round_money(row[13])) if _text(row[13]) else ""}


def _text(value) -> str:
    return "" if value is None or value == "" or value == "None" else str(value)


def billing_rows(db: SqlRunner, scope: Scope, filters: Filters, page: int, per_page: int = 50) -> tuple[list[dict], bool]:
    """One page of the history, and whether another follows."""
    statement = billing_statement(scope, filters, scope.time_zone).offset(page * per_page).limit(per_page + 1)
    rows = [billing_row(r) for r in db.query(statement)]
    return rows[:per_page], len(rows) > per_page


# --- video phones and their contacts (P14) -------------------------------------------------------------------


def video_phones(db: SqlRunner, scope: Scope) -> list[dict]:
    """The customer's video phones, each with its contacts and the state of each contact's newest invite."""
    customer = _customer(scope)
    newest = (select(Invite.contact_id, func.max(Invite.id).label("id")).group_by(Invite.contact_id).subquery())
    rows = db.query(
        select(VideoPhone.id, VideoPhone.name, VideoPhone.display_name, Contact.id, Contact.name, Contact.kind,
               Contact.email, Contact.mobile, Contact.language, links.STATE, Invite.created_at)
        .outerjoin(Contact, Contact.video_phone_id == VideoPhone.id)
        .outerjoin(newest, newest.c.contact_id == Contact.id)
        .outerjoin(Invite, Invite.id == newest.c.id)
        .where(VideoPhone.customer_id == customer).order_by(VideoPhone.name, Contact.name))
    phones: dict[int, dict] = {}
    for phone_id, name, display, contact_id, contact, kind, email, mobile, language, state, invited in rows:
        phone = phones.setdefault(int(phone_id), {"id": int(phone_id), "name": name, "display_name": display,
                                                  "contacts": []})
        if contact_id:
            phone["contacts"].append({"id": int(contact_id), "name": contact, "kind": kind, "email": email or "",
                                      "mobile": mobile or "", "language": language,
                                      "invite": state if invited else None, "invited_at": invited or None})
    return list(phones.values())


def contact(db: SqlRunner, scope: Scope, contact_id: int) -> dict:
    """One contact of the customer's video phones (another customer's: 404), with its video phone's name."""
    for phone in video_phones(db, scope):
        for row in phone["contacts"]:
            if row["id"] == contact_id:
                return {**row, "video_phone": phone["name"], "video_phone_display": phone["display_name"]}
    raise PortalError(404, [Problem("no such contact")])


def update_contact(db: SqlRunner, scope: Scope, contact_id: int, email: str, mobile: str, language: str) -> None:
    """P14: new details of an existing contact (adding and removing contacts stays with the provider); the links
    service's own rule (domain.links.add_contact) stores them."""
    _refuse_viewer(scope)
    row = contact(db, scope, contact_id)
    email, mobile = email.strip(), mobile.strip()
    problems = []
    if email and links.email_problem(email):
        problems.append(Problem("e-mail %(value)r: not an e-mail address such as jane@example.org", value=email))
    if mobile:
        try:
            links.normalise_mobile(mobile)
        except ProvisioningError:
            problems.append(Problem("mobile %(value)r: a mobile number with its country code, such as "
                                    "+48 600 100 200", value=mobile))
    if language not in links.LANGUAGES:
        problems.append(Problem("language %(value)r: pl or en", value=language))
    if row["kind"] == "video" and not email and not mobile:
        problems.append(Problem("a video contact needs an e-mail address or a mobile number: its invites go there"))
    if problems:
        raise PortalError(422, problems)
    links.add_contact(db, row["video_phone"], row["name"], email or None, mobile or None, row["kind"] == "phone",
                      language)


def invite_contact(db: SqlRunner, scope: Scope, contact_id: int, via: str, settings: links.LinkSettings,
                   compose) -> links.Issued:
    """P14: issue (or re-issue: the earlier link is revoked) a contact's invite through the links service's rule,
    sent by e-mail or SMS."""
    _refuse_viewer(scope)
    row = contact(db, scope, contact_id)
    if row["kind"] != "video":
        raise PortalError(422, [Problem("a phone contact gets no app invites")])
    if via not in ("email", "sms") or not row["email" if via == "email" else "mobile"]:
        raise PortalError(422, [Problem("send the invite by e-mail or SMS, to an address or number the contact has")])
    return links.issue_invite(db, settings, row["video_phone"], row["name"], via, compose)


# --- scheduled conferences (P9) --------------------------------------------------------------------------------


def conferences(db: SqlRunner, scope: Scope, period: str, page: int, public_url: str,
                signing_key: str) -> tuple[list[dict], int]:
    """P9: the customer's conferences of a period (all, past, current, future), a page of 20, and their number."""
    from . import conference

    customer = _customer(scope)
    if period not in conference.PERIODS:
        raise PortalError(422, [Problem("show %(value)r: all, past, current or future", value=period)])
    return conference.scheduled(db, customer, period, page, public_url, signing_key)


def add_conference(db: SqlRunner, scope: Scope, name: str, start: str, duration: str, public_url: str,
                   signing_key: str) -> tuple[int, str]:
    """P9: a conference (name, start in the user's time zone, minutes), which gets its own link."""
    from zoneinfo import ZoneInfo

    from . import conference

    customer = _refuse_viewer(scope)
    problems = []
    try:
        starts = datetime.fromisoformat(start.strip()).replace(tzinfo=ZoneInfo(scope.time_zone))
    except ValueError:
        starts = None
        problems.append(Problem("start %(value)r: a date and time such as 2026-12-24 18:00", value=start))
    minutes = int(duration) if duration.strip().isdigit() and len(duration.strip()) < 6 else 0
    if not 5 <= minutes <= 1440:
        problems.append(Problem("duration %(value)s: 5 to 1440 minutes", value=duration))
    if not name.strip() or len(name.strip()) > 128:
        problems.append(Problem("name: give 1 to 128 characters"))
    if problems:
        raise PortalError(422, problems)
    try:
        return conference.schedule(db, customer, name, starts, minutes, public_url, signing_key)
    except ProvisioningError as exc:
        raise PortalError(422, exc.problems) from None


# --- the provider (P15) ------------------------------------------------------------------------------------


def _provider(scope: Scope) -> None:
    if not scope.provider:
        raise PortalError(404, [Problem("no such page")])


def add_customer(db: SqlRunner, scope: Scope, name: str, channels: int | None, channel_limit: int, prices,
                 top_up: Decimal | None = None) -> str:
    """P15: a new customer, an opening top-up and its first profile's channels (bought from that balance), by the
    rules the CLI's `customers add` follows."""
    _provider(scope)
    if db.query(select(Customer.id).where(Customer.name == name.strip())):
        raise PortalError(422, [Problem("name %(value)r: a customer of that name exists", value=name)])
    if channels and prices.channel * channels > (top_up or 0):
        # checked before the customer is made: nothing is half-applied
        money.check_funds(top_up or Decimal(0), Decimal(0), prices.term(money.channels_for_purchase(channels), 0)[0])
    return provisioning.add_customer(db, name.strip(), channels, None, None, channel_limit, top_up, prices,
                                     by=scope.email)


def customers(db: SqlRunner, scope: Scope) -> list[dict]:
    _provider(scope)
    channels = (select(ChannelSubscription.channels).where(ChannelSubscription.customer_id == Customer.id,
                                                           ChannelSubscription.cancelled_at.is_(None))
                .order_by(ChannelSubscription.starts_at.desc()).limit(1).scalar_subquery())
    rows = db.query(select(Customer.id, Customer.name, Customer.enabled, Customer.international, Customer.max_rate,
                           Customer.balance, Customer.credit_limit, Customer.selective_routing,
                           Customer.voicemail_service, channels,
                           select(func.count()).where(SipAccount.customer_id == Customer.id).scalar_subquery())
                    .order_by(Customer.name))
    return [{"id": int(r[0]), "name": r[1], "enabled": truthy(r[2]), "international": truthy(r[3]),
             "max_rate": Decimal(r[4]) if r[4] else None, "balance": Decimal(r[5]), "credit_limit": Decimal(r[6]),
             "selective_routing": truthy(r[7]), "voicemail_service": truthy(r[8]),
             "channels": int(r[9]) if r[9] else 0, "accounts": int(r[10])} for r in rows]


def customer(db: SqlRunner, scope: Scope, customer_id: int) -> dict:
    for row in customers(db, scope):
        if row["id"] == customer_id:
            return row
    raise PortalError(404, [Problem("no such customer")])


def set_customer(db: SqlRunner, scope: Scope, customer_id: int, *, enabled: bool, international: bool,
                 max_rate: Decimal | None, credit_limit: Decimal, selective_routing: bool,
                 voicemail_service: bool) -> None:
    """P15: a customer's switches (disabling one stops its accounts' registrations and calls at once)."""
    _provider(scope)
    rows = db.query(update(Customer).where(Customer.id == customer_id).values(
        enabled=enabled, international=international, max_rate=max_rate, credit_limit=credit_limit,
        selective_routing=selective_routing, voicemail_service=voicemail_service).returning(Customer.id))
    if not rows:
        raise PortalError(404, [Problem("no such customer")])


def top_up(db: SqlRunner, scope: Scope, customer_id: int, amount: Decimal, note: str,
           kind: str = "top_up") -> Decimal:
    """P15: a top-up or a correction (with its reason) as one ledger entry; returns the new balance."""
    _provider(scope)
    try:
        return billing.record(db, customer_id, amount, kind, note, scope.email).balance
    except money.MoneyError as exc:
        status = 404 if exc.problems == [Problem("no such customer")] else 422
        raise PortalError(status, exc.problems) from exc


def ledger(db: SqlRunner, scope: Scope, customer_id: int, last: int = 20) -> list[dict]:
    _provider(scope)
    return billing.ledger(db, customer_id, last)


def portal_users(db: SqlRunner, scope: Scope) -> list[dict]:
    _provider(scope)
    rows = db.query(select(PortalUser.id, PortalUser.email, PortalUser.role, func.coalesce(Customer.name, ""),
                           PortalUser.enabled, PortalUser.password_hash.isnot(None))
                    .outerjoin(Customer, Customer.id == PortalUser.customer_id).order_by(PortalUser.email))
    return [{"id": int(r[0]), "email": r[1], "role": r[2], "customer": r[3], "enabled": truthy(r[4]),
             "password_set": truthy(r[5])} for r in rows]


def invites(db: SqlRunner, scope: Scope, last: int = 100) -> list[dict]:
    """P15: the newest invites of every customer, as `rtcstack invites list` shows them."""
    _provider(scope)
    return links.list_invites(db)[:last]


def conference_links(db: SqlRunner, scope: Scope, public_url: str, signing_key: str, last: int = 100) -> list[dict]:
    """P15: the newest conference links (L5), as `rtcstack conference-links list` shows them."""
    from . import conference

    _provider(scope)
    return conference.list_links(db, public_url, signing_key)[:last]
