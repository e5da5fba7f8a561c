"""`rtcstack customers|accounts|tariffs|numbers|cdrs|ip-bans`: provisioning and support for the registrar role's
SIP service; the rules are rtcstack.domain's, run on the hosts by rtcstack.runtime."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import click

from .base import clean_errors, inventory_argument, main, site_or_exit


def _database(inventory: Path):
    from ..runtime.database import Database

    return Database.connect(site_or_exit(inventory))


@main.group()
def customers() -> None:
    """Customers and their channel subscriptions (P13)."""


@customers.command("add")
@inventory_argument
@click.argument("name")
@click.option("--channels", type=int, help="Channels to buy for its first SIP profile, from the balance: 1-300 "
              "(over 100: a multiple of 10); a new count changes the subscription (once a day, P13).")
@click.option("--top-up", type=Decimal, help="Money to record in its ledger first (a top-up).")
@click.option("--international/--no-international", default=None,
              help="Customer-wide switch for international calls (R7); new customers default to off.")
@click.option("--max-rate", type=Decimal, help="Highest per-minute price the customer may call (R8).")
def customers_add(inventory: Path, name: str, channels: int | None, top_up: Decimal | None,
                  international: bool | None, max_rate: Decimal | None):
    """Add customer NAME, or update it: switches, a top-up, and its first profile's channels."""
    from ..domain.provisioning import add_customer

    with clean_errors():
        click.echo(add_customer(_database(inventory), name, channels, international, max_rate, top_up=top_up))


@main.group()
def accounts() -> None:
    """SIP accounts (R1) and their status lamps (R2)."""


@accounts.command("import")
@inventory_argument
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def accounts_import(inventory: Path, csv_file: Path):
    """Import CSV_FILE: customer,username,password[,international,max_rate,profile] (all rows or none)."""
    from ..domain.provisioning import import_accounts

    with clean_errors():
        click.echo(import_accounts(_database(inventory), csv_file))


@accounts.command("status")
@inventory_argument
@click.option("--customer", help="Only this customer's accounts.")
def accounts_status(inventory: Path, customer: str | None):
    """Each account's lamp: grey, blue, green, yellow or red (R2), from every registrar host."""
    from ..runtime.status import account_lamps

    site = site_or_exit(inventory)
    with clean_errors():
        lamps = account_lamps(site, customer)
    r = site.deployment.registrar
    click.echo(f"lamps: green < {r.lamp_good_rtt_ms} ms <= yellow < {r.lamp_severe_rtt_ms} ms <= red; "
               f"red also when no keepalive answer for {2 * r.keepalive_interval_seconds} s")
    click.echo(f"{'account':<24} {'customer':<20} {'lamp':<7} {'rtt ms':>7}  contact")
    colours = {"grey": "white", "blue": "blue", "green": "green", "yellow": "yellow", "red": "red"}
    for lamp in lamps:
        rtt = f"{lamp.rtt_ms:.1f}" if lamp.rtt_ms is not None else "-"
        click.echo(f"{lamp.username:<24} {lamp.customer:<20} " + click.style(f"{lamp.lamp:<7}", fg=colours[lamp.lamp])
                   + f" {rtt:>7}  {lamp.contact or '-'}")


@main.group()
def tariffs() -> None:
    """Per-minute prices by destination prefix (R8)."""


@tariffs.command("import")
@inventory_argument
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def tariffs_import(inventory: Path, csv_file: Path):
    """Import CSV_FILE: prefix,price_per_minute,description (all rows or none)."""
    from ..domain.provisioning import import_tariffs

    with clean_errors():
        click.echo(import_tariffs(_database(inventory), csv_file))


@main.group()
def numbers() -> None:
    """Public numbers (DIDs) routed to accounts or ring groups (R12)."""


@numbers.command("add")
@inventory_argument
@click.argument("number")
@click.argument("target")
def numbers_add(inventory: Path, number: str, target: str):
    """Route NUMBER (E.164) to TARGET: a SIP account, or a ring group (`rtcstack ring-groups`)."""
    from ..domain.features import route_number

    with clean_errors():
        click.echo(route_number(_database(inventory), number, target))


@main.command()
@inventory_argument
@click.option("--last", type=int, default=20, show_default=True, help="How many of the newest CDRs.")
@click.option("--customer", help="Only this customer's calls.")
def cdrs(inventory: Path, last: int, customer: str | None):
    """The newest call records (R6), as the portal's billing history will show them."""
    from ..domain.status import recent_cdrs

    with clean_errors():
        rows = recent_cdrs(_database(inventory), last, customer)
    click.echo(f"{'start (UTC)':<20} {'caller':<16} {'callee':<18} {'destination':<16} {'code':>4} "
               f"{'secs':>5}  reason")
    for row in rows:
        click.echo(f"{row['start']:<20} {row['caller']:<16} {row['callee']:<18} {row['destination']:<16} "
                   f"{row['code']:>4} {row['duration']:>5}  {row['reason']}")


@main.group("ip-bans")
def ip_bans() -> None:
    """Source addresses blocked for flooding (R13)."""


@ip_bans.command("list")
@inventory_argument
@click.argument("address", required=False)
def ip_bans_list(inventory: Path, address: str | None):
    """List blocked addresses on every registrar host (or look one ADDRESS up)."""
    from ..runtime.status import list_bans

    site = site_or_exit(inventory)
    with clean_errors():
        bans = list_bans(site)
    shown = [b for b in bans if address in (None, b.address)]
    if not shown:
        click.echo(f"{address or 'no address'} is not blocked" if address else "no address is blocked")
    for ban in shown:
        click.echo(f"{ban.address:<40} blocked on {ban.registrar}, {ban.expires_in} s left")


@ip_bans.command("unblock")
@inventory_argument
@click.argument("address")
def ip_bans_unblock(inventory: Path, address: str):
    """Unblock ADDRESS on every registrar host."""
    from ..runtime.status import unblock

    site = site_or_exit(inventory)
    with clean_errors():
        hosts = unblock(site, address)
    click.echo(f"{address} unblocked on {', '.join(hosts)}" if hosts else f"{address} was not blocked")
