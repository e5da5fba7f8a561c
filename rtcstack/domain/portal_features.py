"""The portal's call-feature pages (P6 switches, P7 numbers and ring groups, P8 selective routing, P10 voicemail),
scoped to the logged-in user's customer, on the rules of domain.features (the CLI's): nothing is implemented
twice, and a change applies to the next call as a CLI change does."""

from __future__ import annotations

import base64
from decimal import Decimal

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as upsert

from ..db.models import Customer, Number, RingGroup, SipAccount, VoicemailGreeting, VoicemailMessage
from . import features
from .portal import PortalError, Scope, _customer, _refuse_viewer
from .problems import Problem
from .provisioning import SqlRunner
from .rows import truthy

#: Longest greeting a customer may upload (seconds of 8 kHz audio).
GREETING_MAX_SECONDS = 60


def _features(call, *args, **kwargs):
    """A features operation for a page: a refused change is a 422 with its problems, a thing of another customer
    a 404 (as one that does not exist)."""
    try:
        return call(*args, **kwargs)
    except features.FeatureError as exc:
        missing = any("no such" in str(p) for p in exc.problems)
        raise PortalError(404 if missing else 422, exc.problems) from exc


def switches(db: SqlRunner, scope: Scope) -> dict:
    """The provider's feature switches of the customer (P8, P10) and its time zone."""
    row = db.query(select(Customer.selective_routing, Customer.voicemail_service, Customer.time_zone)
                   .where(Customer.id == _customer(scope)))[0]
    return {"selective_routing": truthy(row[0]), "voicemail_service": truthy(row[1]), "time_zone": row[2]}


def _username(db: SqlRunner, customer: int, account_id: int) -> str:
    rows = db.query(select(SipAccount.username).where(SipAccount.id == account_id, SipAccount.customer_id == customer))
    if not rows:
        raise PortalError(404, [Problem("no such account")])
    return rows[0][0]


def account_features(db: SqlRunner, scope: Scope, account_id: int) -> dict:
    return features.account_features(db, _username(db, _customer(scope), account_id))


def set_account_features(db: SqlRunner, scope: Scope, account_id: int, dnd: bool, voicemail: bool,
                         ring_seconds: int) -> None:
    """P6: do-not-disturb (R11), voicemail (R14) and the ring time before voicemail, per account."""
    customer = _refuse_viewer(scope)
    _features(features.set_account, db, _username(db, customer, account_id), dnd, voicemail, ring_seconds,
              customer_id=customer)


# --- P7: numbers and ring groups -----------------------------------------------------------------------------


def numbers(db: SqlRunner, scope: Scope) -> list[dict]:
    """The customer's public numbers and what each rings: an account or a ring group."""
    customer = _customer(scope)
    rows = db.query(select(Number.e164, SipAccount.id, SipAccount.username, SipAccount.display_name, RingGroup.name)
                    .outerjoin(SipAccount, SipAccount.id == Number.account_id)
                    .outerjoin(RingGroup, RingGroup.id == Number.ring_group_id)
                    .where(func.coalesce(SipAccount.customer_id, RingGroup.customer_id) == customer)
                    .order_by(Number.e164))
    return [{"number": "+" + r[0], "account_id": int(r[1]) if r[1] else None, "account": r[2] or None,
             "display_name": r[3] or None, "group": r[4] or None} for r in rows]


def route_number(db: SqlRunner, scope: Scope, number: str, target: str) -> str:
    """Point one of the customer's numbers at one of its accounts or ring groups (the provider assigns numbers)."""
    customer = _refuse_viewer(scope)
    if number not in {n["number"] for n in numbers(db, scope)}:
        raise PortalError(404, [Problem("no such number")])
    return _features(features.route_number, db, number, target, customer_id=customer)


def ring_groups(db: SqlRunner, scope: Scope) -> list[features.Group]:
    return features.ring_groups(db, customer_id=_customer(scope))


def ring_group(db: SqlRunner, scope: Scope, name: str) -> features.Group:
    found = features.ring_groups(db, customer_id=_customer(scope), name=name)
    if not found:
        raise PortalError(404, [Problem("ring group %(value)r: no such ring group", value=name)])
    return found[0]


def save_ring_group(db: SqlRunner, scope: Scope, name: str, members: list[tuple[str, int]], display_name: str,
                    fallback: str, fallback_account: str) -> features.Group:
    customer = _refuse_viewer(scope)
    return _features(features.save_ring_group, db, name, "", members, display_name.strip() or None, fallback,
                     fallback_account or None, customer_id=customer)


def remove_ring_group(db: SqlRunner, scope: Scope, name: str) -> str:
    return _features(features.remove_ring_group, db, name, customer_id=_refuse_viewer(scope))


def account_names(db: SqlRunner, scope: Scope) -> list[str]:
    return [u for (u,) in db.query(select(SipAccount.username).where(SipAccount.customer_id == _customer(scope))
                                   .order_by(SipAccount.username))]


# --- P8: selective call routing ------------------------------------------------------------------------------


def rules(db: SqlRunner, scope: Scope) -> list[features.Rule]:
    return features.rules(db, customer_id=_customer(scope))


def add_rule(db: SqlRunner, scope: Scope, account: str, caller_pattern: str, days: list[str], starts: str,
             ends: str, target: str) -> features.Rule:
    """P8: only once the provider enabled the feature (the page shows the rules as disabled until then)."""
    customer = _refuse_viewer(scope)
    if not switches(db, scope)["selective_routing"]:
        raise PortalError(403, [Problem("selective call routing is off; your provider enables it")])
    window = f"{starts}-{ends}" if starts and ends else "all"
    day_digits = "".join(sorted({d for d in days if d in "1234567" and len(d) == 1}))
    if not day_digits:
        raise PortalError(422, [Problem("choose at least one day")])
    start, end = _features(features.parse_window, window)
    return _features(features.add_rule, db, account, caller_pattern.strip(), day_digits, start, end, target.strip(),
                     customer_id=customer)


def remove_rule(db: SqlRunner, scope: Scope, account: str, position: int) -> str:
    return _features(features.remove_rule, db, account, position, customer_id=_refuse_viewer(scope))


# --- P10: voicemail ------------------------------------------------------------------------------------------


def messages(db: SqlRunner, scope: Scope) -> list[features.Message]:
    return features.messages(db, customer_id=_customer(scope))


def message(db: SqlRunner, scope: Scope, message_id: int) -> features.Message:
    found = features.messages(db, customer_id=_customer(scope), message_id=message_id)
    if not found:
        raise PortalError(404, [Problem("no such message")])
    return found[0]


def mark_heard(db: SqlRunner, message: features.Message) -> None:
    """A message the user's scope was checked for (`message()`) has been played."""
    db.query(update(VoicemailMessage).where(VoicemailMessage.id == message.id, VoicemailMessage.heard_at.is_(None))
             .values(heard_at=func.now()))


def greetings(db: SqlRunner, scope: Scope) -> dict[str, Decimal]:
    """The accounts with a greeting of their own: username -> seconds."""
    rows = db.query(select(SipAccount.username, VoicemailGreeting.seconds)
                    .join(VoicemailGreeting, VoicemailGreeting.account_id == SipAccount.id)
                    .where(SipAccount.customer_id == _customer(scope)))
    return {u: Decimal(s) for u, s in rows}


def greeting_audio(db: SqlRunner, scope: Scope, account_id: int) -> bytes | None:
    _username(db, _customer(scope), account_id)
    found = db.query(select(func.encode(VoicemailGreeting.audio, "base64"))
                     .where(VoicemailGreeting.account_id == account_id))
    return base64.b64decode(found[0][0]) if found else None


def save_greeting(db: SqlRunner, scope: Scope, account_id: int, data: bytes) -> Decimal:
    """A recorded greeting (a WAV file), kept as 8 kHz mono 16-bit audio for every voicemail host."""
    from ..voicemail import audio

    customer = _refuse_viewer(scope)
    _username(db, customer, account_id)
    try:
        samples = audio.read_wav(data)
    except ValueError as exc:
        raise PortalError(422, [Problem("the greeting must be a WAV file (PCM): %(detail)s", detail=str(exc))]) from None
    seconds = Decimal(len(samples) / audio.RATE).quantize(Decimal("0.01"))
    if not Decimal("0.5") <= seconds <= GREETING_MAX_SECONDS:
        raise PortalError(422, [Problem("the greeting lasts %(value)s s: give 0.5 to %(limit)s seconds",
                                        value=seconds, limit=GREETING_MAX_SECONDS)])
    statement = upsert(VoicemailGreeting).values(account_id=account_id, audio=audio.wav_bytes(samples), seconds=seconds)
    db.query(statement.on_conflict_do_update(index_elements=["account_id"], set_={
        "audio": statement.excluded.audio, "seconds": statement.excluded.seconds, "updated_at": func.now()}))
    return seconds


def remove_greeting(db: SqlRunner, scope: Scope, account_id: int) -> None:
    customer = _refuse_viewer(scope)
    _username(db, customer, account_id)
    db.query(delete(VoicemailGreeting).where(VoicemailGreeting.account_id == account_id))


def message_removed(db: SqlRunner, scope: Scope, message_id: int) -> features.Message:
    """Checks the user may delete the message (the voicemail host deletes file and row)."""
    _refuse_viewer(scope)
    return message(db, scope, message_id)

