"""Links as domain operations (L1-L4, P14): video phones and their contacts, invites (issue, re-issue, list),
redeem, and the outbox that carries invites by e-mail and SMS. SQL goes through a SqlRunner: psql on the
database host from the CLI, the links service's own connection in the service; both get the same rules.

Tokens: 192 random bits, URL-safe; only their SHA-256 is stored. The message that carries a link sits in the
outbox encrypted with a key derived from the links signing key, and is erased once sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import and_, case, func, literal, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert

from ..db.models import Contact, Customer, Device, Invite, OutboxMessage, SipAccount, VideoPhone
from .names import USERNAME
from .provisioning import ProvisioningError, SqlRunner, ha1, sql_text

TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]+$")
MOBILE = re.compile(r"^\+[1-9][0-9]{6,14}$")
LANGUAGES = ("pl", "en")


@dataclass(frozen=True)
class LinkSettings:
    """What issuing and redeeming need from the deployment."""

    public_url: str
    realm: str
    signing_key: str
    invite_days: int = 14


def new_token() -> str:
    """192 random bits, 32 URL-safe characters."""
    return secrets.token_urlsafe(24)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_hint(token: str) -> str:
    """What logs may show of a token: a prefix of its hash."""
    return token_hash(token)[:8]


def cipher(signing_key: str) -> Fernet:
    """The outbox's cipher: a Fernet key derived from the links signing key."""
    digest = hmac.new(signing_key.encode(), b"rtcstack outbox v1", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(signing_key: str, message: dict) -> str:
    return cipher(signing_key).encrypt(json.dumps(message).encode()).decode()


def unseal(signing_key: str, body: str) -> dict:
    try:
        return json.loads(cipher(signing_key).decrypt(body.encode()))
    except InvalidToken:
        raise ValueError("the outbox message cannot be decrypted with this signing key") from None


def normalise_mobile(mobile: str) -> str:
    cleaned = re.sub(r"[\s().-]", "", mobile)
    if cleaned.startswith("00"):
        cleaned = "+" + cleaned[2:]
    if not MOBILE.match(cleaned):
        raise ProvisioningError([f"--mobile {mobile!r}: give an international number such as +48600100200"])
    return cleaned


def email_problem(email: str) -> str | None:
    if len(email) > 254 or not EMAIL.match(email):
        return f"{email!r} is not an e-mail address such as jane@example.org"
    return None


def _one(db: SqlRunner, statement, what: str) -> list[str]:
    rows = db.query(statement)
    if not rows:
        raise ProvisioningError([what])
    return rows[0]


def new_password() -> str:
    """A SIP password of 24 URL-safe characters (144 bits); it passes password_problem."""
    while True:
        password = secrets.token_urlsafe(18)
        if any(c.isdigit() for c in password) and any(c.isalpha() for c in password):
            return password


# --- video phones and contacts (P14) ----------------------------------------------------------------


def add_video_phone(db: SqlRunner, realm: str, name: str, customer: str, display_name: str | None) -> tuple[str, str]:
    """A video phone with a SIP account of its own (user name NAME); returns (summary, SIP password). The
    password is shown once; only its HA1 is stored."""
    problems = []
    if not USERNAME.match(name):
        problems.append(f"NAME {name!r}: 1 to 64 letters, digits, '.', '_' or '-' (it is the SIP user name)")
    display = (display_name or name).strip()
    if not display or len(display) > 128:
        problems.append(f"--display-name {display_name!r}: give 1 to 128 characters")
    if problems:
        raise ProvisioningError(problems)
    customer_id = _one(db, select(Customer.id).where(Customer.name == customer),
                       f"--customer {customer!r}: no such customer; add it with `rtcstack customers add`")[0]
    if db.query(select(SipAccount.id).where(SipAccount.username == name)):
        raise ProvisioningError([f"NAME {name!r}: a SIP account of that name exists; choose another name"])
    password = new_password()
    account = insert(SipAccount).values(customer_id=int(customer_id), username=name, display_name=display,
                                        ha1=ha1(name, realm, password),
                                        ha1_sha256=ha1(name, realm, password, "sha256"))
    its_id = select(SipAccount.id).where(SipAccount.username == name).scalar_subquery()
    db.run("\n".join([sql_text(account), sql_text(insert(VideoPhone).values(
        customer_id=int(customer_id), name=name, display_name=display, account_id=its_id))]))
    return f"video phone {name} ({display}) of {customer}: SIP account {name}@{realm}", password


def _video_phone_id(db: SqlRunner, name: str) -> int:
    return int(_one(db, select(VideoPhone.id).where(VideoPhone.name == name),
                    f"--video-phone {name!r}: no such video phone; add it with `rtcstack video-phones add`")[0])


def add_contact(db: SqlRunner, video_phone: str, name: str, email: str | None, mobile: str | None,
                phone_only: bool, language: str = "pl") -> str:
    """A contact of a video phone, or new details for an existing one (same name): a video contact needs an
    e-mail or a mobile number (its invites go there); a phone contact gets no invites."""
    problems = []
    name = name.strip()
    if not name or len(name) > 128:
        problems.append(f"--name {name!r}: give 1 to 128 characters")
    if email and (bad := email_problem(email)):
        problems.append(f"--email {bad}")
    try:
        mobile = normalise_mobile(mobile) if mobile else None
    except ProvisioningError as exc:
        problems += exc.problems
    if language not in LANGUAGES:
        problems.append(f"--language {language!r}: one of {', '.join(LANGUAGES)}")
    if not phone_only and not email and not mobile:
        problems.append("a video contact needs --email or --mobile (where its invite goes); "
                        "or add --phone-only for a phone contact")
    if problems:
        raise ProvisioningError(problems)
    values = {"video_phone_id": _video_phone_id(db, video_phone), "name": name,
              "kind": "phone" if phone_only else "video", "email": email or None, "mobile": mobile,
              "language": language}
    statement = insert(Contact).values(**values)
    db.query(statement.on_conflict_do_update(constraint="contacts_name_per_video_phone", set_=values))
    reach = ", ".join(x for x in (email, mobile) if x) or "no invites"
    return f"contact {name!r} of {video_phone}: {values['kind']} contact ({reach})"


# --- invites (L1) --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    link: str
    token: str
    channel: str
    recipient: str
    expires_at: datetime
    revoked: int

    def summary(self) -> str:
        where = f"queued for {self.channel} to {self.recipient}" if self.channel != "none" else "not sent"
        again = f"; {self.revoked} earlier link(s) revoked" if self.revoked else ""
        return f"invite {self.link} ({where}; expires {self.expires_at:%Y-%m-%d %H:%M} UTC{again})"


def issue_invite(db: SqlRunner, settings: LinkSettings, video_phone: str, contact: str, via: str | None,
                 compose) -> Issued:
    """Issue a link for (contact, video phone), revoking the pair's earlier ones, and queue its message in the
    outbox, all in one transaction. `via`: email, sms, none, or None for the contact's e-mail, else SMS.
    `compose(kind, language, contact_name, video_phone_display, link, expires_at)` renders the message."""
    phone_id = _video_phone_id(db, video_phone)
    row = _one(db, select(Contact.id, Contact.kind, Contact.email, Contact.mobile, Contact.language,
                          VideoPhone.display_name)
               .join(VideoPhone, VideoPhone.id == Contact.video_phone_id)
               .where(Contact.video_phone_id == phone_id, Contact.name == contact),
               f"--contact {contact!r}: no such contact of {video_phone}; add it with `rtcstack contacts add`")
    contact_id, kind, email, mobile, language, phone_display = row
    if kind != "video":
        raise ProvisioningError([f"--contact {contact!r} is a phone contact: phone contacts get no app invites"])
    via = via or ("email" if email else "sms")
    recipient = {"email": email, "sms": mobile, "none": "-"}.get(via)
    if via not in ("email", "sms", "none"):
        raise ProvisioningError([f"--via {via!r}: one of email, sms, none"])
    if not recipient:
        raise ProvisioningError([f"--via {via}: contact {contact!r} has no "
                                 f"{'e-mail address' if via == 'email' else 'mobile number'}; add it with "
                                 "`rtcstack contacts add` (same name) or choose the other channel"])
    token = new_token()
    link = f"{settings.public_url.rstrip('/')}/i/{token}"
    expires_at = (datetime.now(timezone.utc) + timedelta(days=settings.invite_days)).replace(microsecond=0)
    pair = and_(Invite.contact_id == int(contact_id), Invite.video_phone_id == phone_id,
                Invite.used_at.is_(None), Invite.revoked_at.is_(None))
    invite = insert(Invite).values(token_sha256=token_hash(token), contact_id=int(contact_id),
                                   video_phone_id=phone_id, channel=via, expires_at=expires_at)
    statements = [sql_text(update(Invite).where(pair).values(revoked_at=func.now())), sql_text(invite)]
    if via != "none":
        message = compose(via, language, contact, phone_display, link, expires_at)
        this_invite = select(Invite.id).where(Invite.token_sha256 == token_hash(token)).scalar_subquery()
        statements.append(sql_text(insert(OutboxMessage).from_select(
            ["kind", "recipient", "invite_id", "body"],
            select(literal(via), literal(recipient), this_invite, literal(seal(settings.signing_key, message))))))
    before = db.query(select(func.count()).select_from(Invite).where(pair))
    db.run("\n".join(statements))
    return Issued(link, token, via, recipient, expires_at, int(before[0][0]) if before else 0)


#: An invite's state, in SQL: used, revoked, expired or active (in that order of precedence).
STATE = case((Invite.used_at.isnot(None), "used"), (Invite.revoked_at.isnot(None), "revoked"),
             (Invite.expires_at <= func.now(), "expired"), else_="active")


def list_invites(db: SqlRunner, video_phone: str | None = None) -> list[dict]:
    """Every invite, newest first, with its state and its message's delivery (sent, pending with attempts and
    the last error, or failed)."""
    delivery = (select(OutboxMessage.invite_id, OutboxMessage.sent_at, OutboxMessage.failed_at,
                       OutboxMessage.attempts, OutboxMessage.last_error).subquery())
    query = (select(Invite.id, VideoPhone.name, Contact.name, Invite.channel, Invite.created_at, Invite.expires_at,
                    Invite.used_at, Invite.revoked_at, delivery.c.sent_at, delivery.c.failed_at,
                    delivery.c.attempts, delivery.c.last_error,
                    STATE)
             .join(VideoPhone, VideoPhone.id == Invite.video_phone_id)
             .join(Contact, Contact.id == Invite.contact_id)
             .outerjoin(delivery, delivery.c.invite_id == Invite.id)
             .order_by(Invite.id.desc()))
    if video_phone:
        query = query.where(VideoPhone.name == video_phone)
    out = []
    for (id_, phone, contact, channel, created, expires, used, revoked, sent, failed, attempts, error,
         state) in db.query(query):
        if channel == "none":
            delivery_state = "not sent"
        elif sent:
            delivery_state = "sent"
        elif failed:
            delivery_state = "failed"
        else:
            delivery_state = "pending"
        out.append({"id": int(id_), "video_phone": phone, "contact": contact, "channel": channel,
                    "created_at": created, "expires_at": expires, "state": state, "used_at": used or None,
                    "revoked_at": revoked or None, "delivery": delivery_state,
                    "attempts": int(attempts or 0), "last_error": error or None})
    return out


# --- redeem (L3, L4) -------------------------------------------------------------------------------------


class RedeemError(Exception):
    """Why a redeem did not create an account: an HTTP status and a reason code the app can show."""

    def __init__(self, status: int, reason: str, detail: str):
        super().__init__(detail)
        self.status, self.reason, self.detail = status, reason, detail


@dataclass(frozen=True)
class Redeemed:
    username: str
    password: str
    display_name: str
    account_id: int
    video_phone_id: int


def sql_literal(value) -> str:
    """A value as a PostgreSQL literal, quoted by SQLAlchemy."""
    return str(literal(value).compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def look_up(db: SqlRunner, token: str) -> dict | None:
    """The invite a token names (its state, contact and video phone), or None; the stored hash is compared in
    constant time."""
    if not TOKEN.match(token or ""):
        return None
    digest = token_hash(token)
    rows = db.query(select(Invite.id, Invite.token_sha256, Invite.used_at, Invite.revoked_at, Invite.expires_at,
                           STATE,
                           Contact.name, VideoPhone.display_name, VideoPhone.id)
                    .join(Contact, Contact.id == Invite.contact_id)
                    .join(VideoPhone, VideoPhone.id == Invite.video_phone_id)
                    .where(Invite.token_sha256 == digest))
    if not rows or not hmac.compare_digest(rows[0][1], digest):
        return None
    id_, _, used, revoked, expires, state, contact, phone, phone_id = rows[0]
    return {"id": int(id_), "state": state, "contact": contact, "video_phone": phone,
            "video_phone_id": int(phone_id), "expires_at": expires}


def redeem(db: SqlRunner, settings: LinkSettings, token: str, display_name: str | None,
           recovery_email: str | None) -> Redeemed:
    """Spend the token and create the device's SIP account in one statement: of concurrent redeems of one
    token exactly one finds the invite unspent. 404 for an unknown token, 410 for a spent, revoked or expired
    one, 409 for a recovery e-mail another account uses, 422 for a bad display name or e-mail."""
    invite = look_up(db, token)
    if invite is None:
        raise RedeemError(404, "unknown", "no such invite link")
    if invite["state"] != "active":
        raise RedeemError(410, invite["state"], f"this invite link is {invite['state']}; ask your provider for a new one")
    display = (display_name if display_name is not None else invite["contact"]).strip()
    if not display or len(display) > 128 or any(ord(c) < 32 for c in display):
        raise RedeemError(422, "display_name", "display_name: give 1 to 128 printable characters")
    email = (recovery_email or "").strip() or None
    if email and email_problem(email):
        raise RedeemError(422, "recovery_email", f"recovery_email: {email_problem(email)}")
    if email and db.query(select(Device.id).where(func.lower(Device.recovery_email) == email.lower())):
        raise RedeemError(409, "recovery_email_taken",
                          "recovery_email is already used by another account: give another one, or none")
    username = f"app-{secrets.token_hex(6)}"
    password = new_password()
    realm = settings.realm
    script = f"""
        WITH spent AS (
            UPDATE invites SET used_at = now()
            WHERE id = {invite['id']} AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
            RETURNING id, contact_id, video_phone_id),
        account AS (
            INSERT INTO sip_accounts (customer_id, username, ha1, ha1_sha256, display_name, international)
            SELECT v.customer_id, {sql_literal(username)}, {sql_literal(ha1(username, realm, password))},
                   {sql_literal(ha1(username, realm, password, 'sha256'))}, {sql_literal(display)}, false
            FROM spent JOIN video_phones v ON v.id = spent.video_phone_id
            RETURNING id)
        INSERT INTO devices (account_id, contact_id, video_phone_id, invite_id, display_name, recovery_email)
        SELECT account.id, spent.contact_id, spent.video_phone_id, spent.id, {sql_literal(display)},
               {sql_literal(email)}
        FROM account, spent
        RETURNING account_id, video_phone_id;"""
    try:
        rows = db.run(script)
    except Exception as exc:  # the unique index caught a concurrent redeem with the same e-mail
        if "devices_recovery_email" in str(exc):
            raise RedeemError(409, "recovery_email_taken",
                              "recovery_email is already used by another account: give another one, or none") from None
        raise
    if not rows:
        state = (look_up(db, token) or {"state": "used"})["state"]
        raise RedeemError(410, state, f"this invite link is {state}; ask your provider for a new one")
    return Redeemed(username, password, display, int(rows[0][0]), int(rows[0][1]))


def circle(db: SqlRunner, video_phone_id: int, realm: str, excluding: str = "") -> list[dict]:
    """The contact list of a video phone's circle (L4): the video phone, then its contacts' devices."""
    phone = db.query(select(SipAccount.username, VideoPhone.display_name)
                     .join(VideoPhone, VideoPhone.account_id == SipAccount.id).where(VideoPhone.id == video_phone_id))
    devices = db.query(select(SipAccount.username, Device.display_name)
                       .join(Device, Device.account_id == SipAccount.id)
                       .where(Device.video_phone_id == video_phone_id, SipAccount.username != excluding)
                       .order_by(Device.id))
    return [{"sip": f"sip:{user}@{realm}", "display_name": name, "video_phone": i == 0 and bool(phone)}
            for i, (user, name) in enumerate(phone + devices)]


# --- the outbox -------------------------------------------------------------------------------------------


#: Seconds to wait before attempt N+1 (after N failures); the last figure repeats until MAX_ATTEMPTS.
BACKOFF = (2, 5, 15, 60, 300, 900)
MAX_ATTEMPTS = 12


def backoff_seconds(attempts: int) -> int:
    return BACKOFF[min(attempts, len(BACKOFF)) - 1] if attempts > 0 else 0


def issue_bulk(db: SqlRunner, settings: LinkSettings, video_phone: str, prefix: str, count: int) -> list[str]:
    """`count` invites of `video_phone` for contacts PREFIX0..PREFIXn-1 (made if missing, e-mail
    PREFIXi@invalid), sent nowhere: the links of load tests and benchmarks, in one transaction."""
    phone_id = _video_phone_id(db, video_phone)
    tokens = [new_token() for _ in range(count)]
    expires = (datetime.now(timezone.utc) + timedelta(days=settings.invite_days)).replace(microsecond=0)
    contacts = insert(Contact).values([{"video_phone_id": phone_id, "name": f"{prefix}{i}", "kind": "video",
                                        "email": f"{prefix}{i}@invalid"} for i in range(count)])
    invites = [{"token_sha256": token_hash(token), "video_phone_id": phone_id, "channel": "none",
                "expires_at": expires,
                "contact_id": select(Contact.id).where(Contact.video_phone_id == phone_id,
                                                       Contact.name == f"{prefix}{i}").scalar_subquery()}
               for i, token in enumerate(tokens)]
    db.run("\n".join([sql_text(contacts.on_conflict_do_nothing(constraint="contacts_name_per_video_phone")),
                      *(sql_text(insert(Invite).values(**row)) for row in invites)]))
    return tokens
