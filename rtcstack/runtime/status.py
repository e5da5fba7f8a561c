"""What support looks at, read live from the hosts: account lamps from every registrar (R2), blocked
addresses (R13). The rules are in rtcstack.domain.status."""

from __future__ import annotations

import ipaddress
import time

from sqlalchemy import select

from ..db.models import Customer, SipAccount
from ..domain.provisioning import ProvisioningError
from ..domain.status import Ban, Lamp, ban_of, contact_age_key, lamp_for, parse_kamcmd
from ..site import Site
from .database import Database
from .remote import connect


def registered_contacts(site: Site) -> dict[str, dict[str, str]]:
    """The live contact of each registered account, from every registrar host's memory (ul.dump)."""
    contacts: dict[str, dict[str, str]] = {}
    for name, remote in _registrars(site).items():
        for contact in parse_kamcmd(remote.run("kamcmd ul.dump"), "Contact"):
            previous = contacts.get(contact.get("AoR", ""))
            if previous is None or contact_age_key(contact) > contact_age_key(previous):
                contacts[contact.get("AoR", "")] = contact | {"registrar": name}
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
    contacts = registered_contacts(site)
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
