"""What support looks at: account lamps (R2), blocked addresses (R13) and recent CDRs (R6)."""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from .config import Deployment
from .db.models import Cdr, Customer, SipAccount
from .provisioning import Database, ProvisioningError
from .remote import connect


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


def lamp_for(contact: dict[str, str] | None, deployment: Deployment, now: float) -> tuple[str, float | None]:
    """R2: grey unregistered; blue waiting for the first keepalive answer; green/yellow/red by RTT;
    red too when keepalives went unanswered for two intervals."""
    if contact is None:
        return "grey", None
    r = deployment.registrar
    rtt_us = int(contact.get("KA-Roundtrip", "0") or 0)
    silent = now - int(contact.get("Last-Keepalive", "0") or 0) > 2 * r.keepalive_interval_seconds + 5
    if rtt_us == 0:
        return ("red" if silent else "blue"), None
    rtt_ms = rtt_us / 1000
    if silent or rtt_ms >= r.lamp_severe_rtt_ms:
        return "red", rtt_ms
    return ("green" if rtt_ms < r.lamp_good_rtt_ms else "yellow"), rtt_ms


def registered_contacts(inventory: Path, deployment: Deployment) -> dict[str, dict[str, str]]:
    """The live contact of each registered account, from every registrar host's memory (ul.dump)."""
    names = [h.name for h in deployment.hosts_with("registrar")]
    contacts: dict[str, dict[str, str]] = {}
    for name, remote in connect(inventory, names).items():
        for contact in parse_kamcmd(remote.run("kamcmd ul.dump"), "Contact"):
            previous = contacts.get(contact.get("AoR", ""))
            if previous is None or int(contact.get("Last-Modified", 0)) > int(previous.get("Last-Modified", 0)):
                contacts[contact.get("AoR", "")] = contact | {"registrar": name}
    return contacts


def account_lamps(inventory: Path, deployment: Deployment, customer: str | None = None) -> list[Lamp]:
    db = Database.connect(inventory, deployment)
    query = select(SipAccount.username, Customer.name).join(Customer).order_by(Customer.name, SipAccount.username)
    if customer:
        query = query.where(Customer.name == customer)
    accounts = db.query(query)
    if customer and not accounts:
        raise ProvisioningError([f"--customer {customer!r}: no such customer, or it has no accounts"])
    contacts = registered_contacts(inventory, deployment)
    now = time.time()
    out = []
    for username, customer_name in accounts:
        contact = contacts.get(username)
        lamp, rtt = lamp_for(contact, deployment, now)
        out.append(Lamp(username, customer_name, lamp, rtt, contact.get("Address") if contact else None))
    return out


# --- R13 ---------------------------------------------------------------------------------------


@dataclass
class Ban:
    address: str
    registrar: str
    expires_in: int


def _registrars(inventory: Path, deployment: Deployment):
    return connect(inventory, [h.name for h in deployment.hosts_with("registrar")])


def list_bans(inventory: Path, deployment: Deployment, remotes: dict | None = None) -> list[Ban]:
    now = time.time()
    out = []
    for name, remote in (remotes or _registrars(inventory, deployment)).items():
        for entry in parse_kamcmd(remote.run("kamcmd htable.dump ipban"), ""):
            if "name" not in entry:
                continue
            started = int(entry.get("value", "0") or 0)
            out.append(Ban(entry["name"], name, max(0, int(started + deployment.registrar.ban_seconds - now))))
    return sorted(out, key=lambda b: (b.address, b.registrar))


def unblock(inventory: Path, deployment: Deployment, address: str) -> list[str]:
    """Lift the ban on every registrar host that holds one; the hosts it was lifted on."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ProvisioningError([f"ADDRESS {address!r}: not an IP address"]) from None
    remotes = _registrars(inventory, deployment)
    banned_on = [b.registrar for b in list_bans(inventory, deployment, remotes) if b.address == address]
    for name in banned_on:
        remotes[name].run(f"kamcmd htable.delete ipban {address}")
    return banned_on


# --- R6 ----------------------------------------------------------------------------------------


def recent_cdrs(db: Database, last: int, customer: str | None) -> list[dict]:
    query = (select(Cdr.start_time, Cdr.caller, Cdr.callee, Cdr.destination, Cdr.sip_code, Cdr.duration_seconds,
                    Cdr.sip_reason).order_by(Cdr.id.desc()).limit(last))
    if customer:
        query = query.join(Customer, Customer.id == Cdr.customer_id).where(Customer.name == customer)
    keys = ("start", "caller", "callee", "destination", "code", "duration", "reason")
    return [dict(zip(keys, row)) | {"start": row[0][:19]} for row in reversed(db.query(query))]
