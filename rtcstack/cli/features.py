"""`rtcstack accounts set`, `customers set`, `ring-groups`, `routing-rules`, `voicemail`: the call features
(R9-R12, R14) from the operator's machine, by the rules of rtcstack.domain.features (the portal's too)."""

from __future__ import annotations

from pathlib import Path

import click

from .base import clean_errors, inventory_argument, main, site_or_exit
from .registrar import accounts, customers

ON_OFF = click.Choice(["on", "off"])


def _database(inventory: Path):
    from ..runtime.database import Database

    return Database.connect(site_or_exit(inventory))


def _flag(value: str | None) -> bool | None:
    return None if value is None else value == "on"


@accounts.command("set")
@inventory_argument
@click.argument("account")
@click.option("--dnd", type=ON_OFF, help="Do not disturb (R11): calls skip the account without ringing it.")
@click.option("--voicemail", type=ON_OFF, help="Voicemail (R14): unanswered, busy and DND calls go to its mailbox "
              "(when the provider enabled the customer's voicemail service).")
@click.option("--ring-seconds", type=int, help="How long the account rings before voicemail answers (5-120).")
def accounts_set(inventory: Path, account: str, dnd: str | None, voicemail: str | None, ring_seconds: int | None):
    """Switch an ACCOUNT's call features; the next call follows them."""
    from ..domain.features import set_account

    with clean_errors():
        click.echo(set_account(_database(inventory), account, _flag(dnd), _flag(voicemail), ring_seconds))


@customers.command("set")
@inventory_argument
@click.argument("name")
@click.option("--selective-routing", type=ON_OFF, help="The provider's switch of selective call routing (P8, R9).")
@click.option("--voicemail", type=ON_OFF, help="The provider's switch of the voicemail service (P10, R14).")
@click.option("--time-zone", help="The zone routing rules' days and hours are read in (default Europe/Warsaw).")
def customers_set(inventory: Path, name: str, selective_routing: str | None, voicemail: str | None,
                  time_zone: str | None):
    """Set customer NAME's feature switches and time zone."""
    from ..domain.features import set_customer

    with clean_errors():
        click.echo(set_customer(_database(inventory), name, _flag(selective_routing), _flag(voicemail), time_zone))


@main.group("ring-groups")
def ring_groups() -> None:
    """Ring groups (R10, R12): members rung one after another, then a fallback."""


@ring_groups.command("add")
@inventory_argument
@click.argument("name")
@click.option("--customer", required=True, help="The customer owning the group and its members.")
@click.option("--member", "members", multiple=True, metavar="ACCOUNT[:SECONDS]",
              help="A member, in ring order, with its ring time (default --ring-seconds); repeat for each.")
@click.option("--contact", metavar="VIDEO_PHONE/CONTACT",
              help="Ring a video phone's contact's devices in the order they were set up (R10); the video phone then "
                   "sees calls from each of them as the contact (the display name, else the contact's name).")
@click.option("--ring-seconds", type=int, default=20, show_default=True, help="Ring time of members given without one.")
@click.option("--display-name", help="What every rung device shows as the caller (\"Incoming call from Jane\").")
@click.option("--fallback", type=click.Choice(["busy", "voicemail", "account"]), default="busy", show_default=True,
              help="After the last member: a busy tone, the voicemail box of --fallback-account, or ringing "
                   "--fallback-account until the caller gives up.")
@click.option("--fallback-account", help="The account of the voicemail or account fallback.")
def ring_groups_add(inventory: Path, name: str, customer: str, members: tuple[str, ...], contact: str | None,
                    ring_seconds: int, display_name: str | None, fallback: str, fallback_account: str | None):
    """Create ring group NAME (dialled like an account; `rtcstack numbers add` routes a number to it), or replace
    its members and settings."""
    from ..domain.features import FeatureError, parse_member, save_ring_group

    with clean_errors():
        pair = None
        if contact:
            phone, _, person = contact.partition("/")
            if not person:
                raise FeatureError([f"--contact {contact!r}: give VIDEO_PHONE/CONTACT"])
            pair = (phone, person)
        parsed = [parse_member(m, ring_seconds) for m in members] or None
        group = save_ring_group(_database(inventory), name, customer, parsed, display_name, fallback,
                                fallback_account, contact=pair, ring_seconds=ring_seconds)
        click.echo(group.summary())


@ring_groups.command("list")
@inventory_argument
@click.option("--customer", help="Only this customer's groups.")
def ring_groups_list(inventory: Path, customer: str | None):
    """Ring groups with their members in order, fallback and numbers."""
    from ..domain.features import customer_id_of, ring_groups as groups

    with clean_errors():
        db = _database(inventory)
        found = groups(db, customer_id=customer_id_of(db, customer) if customer else None)
        for group in found:
            click.echo(group.summary())
        if not found:
            click.echo("no ring groups")


@ring_groups.command("remove")
@inventory_argument
@click.argument("name")
def ring_groups_remove(inventory: Path, name: str):
    """Remove ring group NAME (once no number routes to it)."""
    from ..domain.features import remove_ring_group

    with clean_errors():
        click.echo(remove_ring_group(_database(inventory), name))


@main.group("routing-rules")
def routing_rules() -> None:
    """Selective call routing (R9): forward an account's calls by caller, day and hour."""


@routing_rules.command("add")
@inventory_argument
@click.argument("account")
@click.option("--callers", required=True, help="Caller pattern: an account or number, * any run, ? one character "
              "(48601* matches numbers starting 48601).")
@click.option("--days", default="all", show_default=True, help="Days: mon-fri, sat,sun, 1-5 or all.")
@click.option("--hours", default="all", show_default=True,
              help="Window in the customer's time zone: 08:00-16:00 (an end before the start spans midnight) or all.")
@click.option("--to", "target", required=True, help="Where matching calls go: an account, ring group or number.")
def routing_rules_add(inventory: Path, account: str, callers: str, days: str, hours: str, target: str):
    """Append a rule to ACCOUNT's list; rules apply in order once the provider enabled the customer's feature."""
    from ..domain.features import add_rule, parse_days, parse_window

    with clean_errors():
        db = _database(inventory)
        rule = add_rule(db, account, callers, parse_days(days), *parse_window(hours), target)
        click.echo(rule.summary())


@routing_rules.command("list")
@inventory_argument
@click.option("--account", help="Only this account's rules.")
def routing_rules_list(inventory: Path, account: str | None):
    """Rules in the order they are evaluated."""
    from ..domain.features import rules

    with clean_errors():
        found = rules(_database(inventory), account=account)
        for rule in found:
            click.echo(rule.summary())
        if not found:
            click.echo("no routing rules")


@routing_rules.command("remove")
@inventory_argument
@click.argument("account")
@click.argument("position", type=int)
def routing_rules_remove(inventory: Path, account: str, position: int):
    """Remove rule POSITION (as `list` numbers it) of ACCOUNT."""
    from ..domain.features import remove_rule

    with clean_errors():
        click.echo(remove_rule(_database(inventory), account, position))


@main.group()
def voicemail() -> None:
    """Voicemail messages (R14)."""


@voicemail.command("list")
@inventory_argument
@click.option("--account", help="Only this account's mailbox.")
def voicemail_list(inventory: Path, account: str | None):
    """Messages, newest first: account, caller, time (UTC), seconds."""
    from ..domain.features import messages

    with clean_errors():
        found = messages(_database(inventory), account=account)
        for m in found:
            click.echo(f"{m.account:<20} {m.caller:<24} {m.received_at:%Y-%m-%d %H:%M:%S} {m.seconds:>7} s"
                       f"{'' if m.heard else '  new'}")
        if not found:
            click.echo("no voicemail messages")
