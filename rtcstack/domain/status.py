"""What support looks at, as pure functions: kamcmd's output read (R2, R13), an account's lamp from its
contact (R2), and the recent-CDR query (R6). rtcstack.runtime.status runs them against the hosts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from ..db.models import Cdr, Customer
from .provisioning import SqlRunner

if TYPE_CHECKING:
    from ..site import Deployment


def parse_kamcmd(text: str, record: str) -> list[dict[str, str]]:
    """Flatten kamcmd's brace output: one dict per `record: {` block, with the keys inside it and the
    nearest keys above it (such as `AoR`)."""
    out, context, current, depth_at = [], {}, None, None
    depth = 0
    for raw in text.splitlines():
        line = raw.strip()
        if line.endswith("{"):
            if line[:-1].strip().rstrip(":") == record:
                current, depth_at = dict(context), depth
            depth += 1
            continue
        if line == "}":
            depth -= 1
            if current is not None and depth == depth_at:
                out.append(current)
                current = None
            continue
        key, sep, value = line.partition(":")
        if sep:
            (current if current is not None else context)[key.strip()] = value.strip()
    return out


@dataclass
class Lamp:
    username: str
    customer: str
    lamp: str
    rtt_ms: float | None
    contact: str | None


@dataclass(frozen=True)
class LampRules:
    """R2's thresholds (registrar.lamp_good_rtt_ms, lamp_severe_rtt_ms, keepalive_interval_seconds)."""

    keepalive_interval_seconds: int
    good_rtt_ms: int
    severe_rtt_ms: int

    @classmethod
    def of(cls, deployment: Deployment) -> LampRules:
        r = deployment.registrar
        return cls(r.keepalive_interval_seconds, r.lamp_good_rtt_ms, r.lamp_severe_rtt_ms)


def contact_age_key(contact: dict) -> tuple[int, int]:
    """Which of two copies of a contact is the live one: the newer registration, then the newer keepalive. Registrars
    in a cluster each hold every contact (replicated); only the phone's own registrar keeps it alive, so its copy
    is the one whose keepalive round trip is current."""
    return int(contact.get("Last-Modified", 0) or 0), int(contact.get("Last-Keepalive", 0) or 0)


def keep_newest(contacts: dict[str, dict], aor: str, contact: dict) -> None:
    """Keep `contact` as `aor`'s in `contacts` unless the copy there is the live one (contact_age_key)."""
    previous = contacts.get(aor)
    if previous is None or contact_age_key(contact) > contact_age_key(previous):
        contacts[aor] = contact


def lamp_for(contact: dict | None, rules: LampRules | Deployment, now: float) -> tuple[str, float | None]:
    """R2: grey unregistered; blue waiting for the first keepalive answer; green/yellow/red by RTT;
    red too when keepalives went unanswered for two intervals."""
    if contact is None:
        return "grey", None
    if not isinstance(rules, LampRules):
        rules = LampRules.of(rules)
    rtt_us = int(contact.get("KA-Roundtrip", "0") or 0)
    silent = now - int(contact.get("Last-Keepalive", "0") or 0) > 2 * rules.keepalive_interval_seconds + 5
    if rtt_us == 0:
        return ("red" if silent else "blue"), None
    rtt_ms = rtt_us / 1000
    if silent or rtt_ms >= rules.severe_rtt_ms:
        return "red", rtt_ms
    return ("green" if rtt_ms < rules.good_rtt_ms else "yellow"), rtt_ms


@dataclass
class Ban:
    address: str
    registrar: str
    expires_in: int


def ban_of(address: str, registrar: str, started, ban_seconds: int, now: float) -> Ban:
    """A ban as htable ipban keeps it (the value is the ban's start, Unix seconds): the seconds it has left."""
    try:
        begun = int(started or 0)
    except (TypeError, ValueError):
        begun = 0
    return Ban(address, registrar, max(0, int(begun + ban_seconds - now)))


# --- R6 ----------------------------------------------------------------------------------------


def recent_cdrs(db: SqlRunner, last: int, customer: str | None) -> list[dict]:
    query = (select(Cdr.start_time, Cdr.caller, Cdr.callee, Cdr.destination, Cdr.sip_code, Cdr.duration_seconds,
                    Cdr.sip_reason).order_by(Cdr.id.desc()).limit(last))
    if customer:
        query = query.join(Customer, Customer.id == Cdr.customer_id).where(Customer.name == customer)
    keys = ("start", "caller", "callee", "destination", "code", "duration", "reason")
    return [dict(zip(keys, row)) | {"start": row[0][:19]} for row in reversed(db.query(query))]
