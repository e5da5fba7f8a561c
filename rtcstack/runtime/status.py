"""What support looks at, read live from the hosts: account lamps from every registrar (R2), blocked
addresses (R13). The rules are in rtcstack.domain.status."""

from __future__ import annotations

import ipaddress
import shlex
import time

from sqlalchemy import select

from ..db.models import Customer, SipAccount
from ..domain.provisioning import ProvisioningError
from ..domain.status import Ban, Lamp, ban_of, keep_newest, lamp_for, parse_kamcmd
from ..site import Site
from .database import Database
from .remote import connect


#: Accounts looked up per command on a registrar host (one kamcmd each, in one shell loop).
LOOKUPS_PER_COMMAND = 200


def registered_contacts(site: Site, usernames: list[str]) -> dict[str, dict[str, str]]:
    """The live contact of each of `usernames` that is registered, from every registrar host's memory.

    One `kamcmd ul.lookup` per account, not one `ul.dump`: kamcmd refuses a reply past its buffer ("reply too
    big", about 300 registered phones), so a dump fails on any platform of size; lookups cost what is asked for."""
    contacts: dict[str, dict[str, str]] = {}
    for name, remote in _registrars(site).items():
        for start in range(0, len(usernames), LOOKUPS_PER_COMMAND):
            batch = " ".join(shlex.quote(u) for u in usernames[start:start + LOOKUPS_PER_COMMAND])
            # (an account that is not registered answers "AOR not found": no record, nothing to read)
            answer = remote.run(f"for aor in {batch}; do kamcmd ul.lookup location \"$aor\" 2>/dev/null; done; true")
            for contact in parse_kamcmd(answer, "Contact"):
                keep_newest(contacts, contact.get("AoR", ""), contact | {"registrar": name})
    return contacts


def account_lamps(site: Site, customer: str | None = None) -> list[Lamp]:
    deployment = site.deployment
    db = Database.connect(site)
    query = select(SipAccount.username, Customer.name).join(Customer).order_by(Customer.name, SipAccount.username)
    if customer:
        query = query.where(Customer.name == customer)
    accounts = db.query(query)
    if customer and not accounts:
        raise ProvisioningError([f"--customer {customer!r}: no such customer, or it has no accounts"])
    contacts = registered_contacts(site, [username for username, _ in accounts])
    now = time.time()
    out = []
    for username, customer_name in accounts:
        contact = contacts.get(username)
        lamp, rtt = lamp_for(contact, deployment, now)
        out.append(Lamp(username, customer_name, lamp, rtt, contact.get("Address") if contact else None))
    return out


# --- R13 ---------------------------------------------------------------------------------------


def _registrars(site: Site):
    return connect(site, [h.name for h in site.deployment.hosts_with("registrar")])


def list_bans(site: Site) -> list[Ban]:
    now = time.time()
    out = []
    for name, remote in _registrars(site).items():
        for entry in parse_kamcmd(remote.run("kamcmd htable.dump ipban"), ""):
            if "name" not in entry:
                continue
            out.append(ban_of(entry["name"], name, entry.get("value"), site.deployment.registrar.ban_seconds, now))
    return sorted(out, key=lambda b: (b.address, b.registrar))


def unblock(site: Site, address: str) -> list[str]:
    """Lift the ban on every registrar host that holds one; the hosts it was lifted on."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ProvisioningError([f"ADDRESS {address!r}: not an IP address"]) from None
    remotes = _registrars(site)
    banned_on = [b.registrar for b in list_bans(site) if b.address == address]
    for name in banned_on:
        remotes[name].run(f"kamcmd htable.delete ipban {address}")
    return banned_on


# --- R6 ----------------------------------------------------------------------------------------
