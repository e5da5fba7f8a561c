"""`rtcstack subscriptions|balance|profiles`: money from the operator's machine (P13, P15), by the rules of
rtcstack.domain.billing: the same functions the portal's pages call, run through psql on the database host."""

from __future__ import annotations

import getpass
from decimal import Decimal
from pathlib import Path

import click

from .base import clean_errors, inventory_argument, main, site_or_exit

customer_option = click.option("--customer", required=True, help="The customer, by name.")
profile_option = click.option("--profile", help="The SIP profile, by name (default: the customer's first).")


def _open(inventory: Path, customer: str):
    from ..domain import billing
    from ..runtime.database import Database

    site = site_or_exit(inventory)
    db = Database.connect(site)
    return site.deployment, db, billing.customer_id(db, customer)


def _operator() -> str:
    return f"operator {getpass.getuser()}"


def _show_profile(p, currency: str) -> None:
    current = p.current
    click.echo(f"profile {p.name}: {p.accounts} SIP accounts")
    if current is None:
        click.echo("  no running subscription" + (" (the last term lapsed unpaid)" if p.lapsed else ""))
    else:
        renewal = (f"renews {current.ends_at:%Y-%m-%d %H:%M} UTC" if current.renews
                   else f"cancelled: ends {current.ends_at:%Y-%m-%d %H:%M} UTC")
        click.echo(f"  {current.channels} channels, {current.packs} minute packs "
                   f"({current.pack_minutes_left} minutes left), since {current.starts_at:%Y-%m-%d %H:%M} UTC, {renewal}")
    if p.next_change_at:
        click.echo(f"  next purchase or change possible after {p.next_change_at:%Y-%m-%d %H:%M} UTC")
    for t in p.terms:
        state = ("replaced" if t.cancelled_at else "lapsed unpaid" if t.lapsed_at else
                 "running" if t is current else "ended")
        refund = f", refunded {t.refund}" if t.refund else ""
        click.echo(f"    {t.starts_at:%Y-%m-%d} .. {t.ends_at:%Y-%m-%d}  {t.kind:<8} {t.channels:>3} ch {t.packs:>3} packs  "
                   f"paid {t.paid} {currency}{refund}  {state}")


@main.group()
def subscriptions() -> None:
    """Channel subscriptions per SIP profile (P13): 30-day terms paid from the balance."""


@subscriptions.command("show")
@inventory_argument
@customer_option
@profile_option
def subscriptions_show(inventory: Path, customer: str, profile: str | None):
    """Each profile's running term, renewal or expiry, pack minutes left and its recent terms."""
    from ..domain import billing

    with clean_errors():
        deployment, db, cid = _open(inventory, customer)
        found = billing.profiles(db, cid)
        if profile is not None:
            found = [billing.profile(db, cid, profile)]
        for p in found:
            _show_profile(p, deployment.portal.currency)


def _buy(inventory: Path, customer: str, profile: str | None, channels: int, packs: int, change: bool) -> None:
    from ..domain import billing
    from ..domain.money import MoneyError
    from ..domain.problems import Problem

    with clean_errors():
        deployment, db, cid = _open(inventory, customer)
        current = billing.profile(db, cid, profile).current
        if change and current is None:
            raise MoneyError([Problem("this SIP profile has no running subscription: buy one")])
        if not change and current is not None:
            raise MoneyError([Problem("this SIP profile has a running subscription: change it instead")])
        q = billing.buy(db, billing.prices(deployment), cid, profile, channels, packs, _operator(),
                        deployment.channels)
        currency = deployment.portal.currency
        if q.rounded:
            click.echo(f"{channels} channels: over 100 a count rounds down to a multiple of 10: {q.channels}")
        if q.replaces:
            click.echo(f"replaced {q.replaces.channels} channels to {q.replaces.ends_at:%Y-%m-%d}: refunded "
                       f"{q.refund} {currency} (the unused part)")
        click.echo(f"bought {q.channels} channels and {q.packs} minute packs to {q.ends_at:%Y-%m-%d %H:%M} UTC: "
                   f"{q.channel_price} + {q.pack_price} = {q.price} {currency}; balance "
                   f"{billing.balance(db, cid).balance} {currency}")


@subscriptions.command("buy")
@inventory_argument
@customer_option
@profile_option
@click.option("--channels", type=int, required=True, help="1-300 (over 100: rounded down to a multiple of 10).")
@click.option("--packs", type=int, default=0, show_default=True, help="Minute packs (5,000 minutes each), at most one per channel.")
def subscriptions_buy(inventory: Path, customer: str, profile: str | None, channels: int, packs: int):
    """Buy a 30-day subscription for a profile without one, paid from the balance."""
    _buy(inventory, customer, profile, channels, packs, change=False)


@subscriptions.command("change")
@inventory_argument
@customer_option
@profile_option
@click.option("--channels", type=int, required=True, help="The new count: 1-300 (over 100: a multiple of 10).")
@click.option("--packs", type=int, default=0, show_default=True, help="Minute packs of the new term.")
def subscriptions_change(inventory: Path, customer: str, profile: str | None, channels: int, packs: int):
    """Change a profile's subscription (once a day): the unused part is refunded and a new term starts now."""
    _buy(inventory, customer, profile, channels, packs, change=True)


@subscriptions.command("cancel")
@inventory_argument
@customer_option
@profile_option
@click.option("--yes", is_flag=True, help="Cancel without asking (the expiry date is printed first either way).")
def subscriptions_cancel(inventory: Path, customer: str, profile: str | None, yes: bool):
    """Cancel a profile's renewal: the term runs to its end, then the channels go."""
    from ..domain import billing

    with clean_errors():
        _, db, cid = _open(inventory, customer)
        term = billing.cancel(db, cid, profile, _operator(), confirm=False)
        click.echo(f"the subscription ({term.channels} channels) will end {term.ends_at:%Y-%m-%d %H:%M} UTC and not renew")
        if not yes:
            click.confirm("cancel it?", abort=True)
        billing.cancel(db, cid, profile, _operator())
        click.echo("cancelled")


@subscriptions.command("renew")
@inventory_argument
def subscriptions_renew(inventory: Path):
    """Run the renewal now (the portal hosts' timer does it every billing.renewal_interval_minutes)."""
    from ..domain import billing

    with clean_errors():
        site = site_or_exit(inventory)
        from ..runtime.database import Database

        done = billing.renew(Database.connect(site), billing.prices(site.deployment), f"{_operator()} (renew)")
        for r in done:
            click.echo(f"term {r.term_id} of customer {r.customer_id}: {r.outcome}")
        click.echo(f"{len(done)} due, {sum(r.outcome == 'renewed' for r in done)} renewed, "
                   f"{sum(r.outcome == 'lapsed' for r in done)} lapsed")


@main.group()
def profiles() -> None:
    """A customer's SIP profiles (P13): each groups SIP accounts under a subscription of its own."""


@profiles.command("add")
@inventory_argument
@customer_option
@click.argument("name")
def profiles_add(inventory: Path, customer: str, name: str):
    """Add SIP profile NAME to a customer (accounts join one with `accounts import`'s profile column)."""
    from ..domain import billing

    with clean_errors():
        _, db, cid = _open(inventory, customer)
        p = billing.add_profile(db, cid, name)
        click.echo(f"profile {p.name} added to {customer} (no subscription yet: `rtcstack subscriptions buy`)")


@main.group()
def balance() -> None:
    """A customer's balance and its ledger (P2, P15)."""


@balance.command("show")
@inventory_argument
@customer_option
@click.option("--last", type=int, default=20, show_default=True, help="Ledger entries to list.")
def balance_show(inventory: Path, customer: str, last: int):
    """The balance, the credit limit, and the newest ledger entries."""
    from ..domain import billing

    with clean_errors():
        deployment, db, cid = _open(inventory, customer)
        b = billing.balance(db, cid)
        currency = deployment.portal.currency
        click.echo(f"balance {b.balance} {currency}, credit limit {b.credit_limit} {currency}, "
                   f"ledger sum {b.ledger_sum} {currency}" + ("" if b.ledger_sum == b.balance else "  MISMATCH"))
        for e in billing.ledger(db, cid, last):
            click.echo(f"  {e['at']:%Y-%m-%d %H:%M}  {e['kind']:<10} {e['amount']:>12}  -> {e['balance_after']:>12}  "
                       f"{e['note']}  ({e['by']})")


@balance.command("top-up")
@inventory_argument
@customer_option
@click.argument("amount", type=Decimal)
@click.option("--reason", default="top-up", show_default=True, help="What the ledger says of it.")
def balance_top_up(inventory: Path, customer: str, amount: Decimal, reason: str):
    """Record AMOUNT paid in by the customer."""
    from ..domain import billing

    with clean_errors():
        deployment, db, cid = _open(inventory, customer)
        b = billing.record(db, cid, amount, "top_up", reason, _operator())
        click.echo(f"balance {b.balance} {deployment.portal.currency}")


@balance.command("correct")
@inventory_argument
@customer_option
@click.option("--amount", type=Decimal, required=True, help="The correction: negative takes money back.")
@click.option("--reason", required=True, help="Why (kept in the ledger).")
def balance_correct(inventory: Path, customer: str, amount: Decimal, reason: str):
    """Record a correction (either sign, with a reason); ledger entries are never edited."""
    from ..domain import billing

    with clean_errors():
        deployment, db, cid = _open(inventory, customer)
        b = billing.record(db, cid, amount, "correction", reason, _operator())
        click.echo(f"balance {b.balance} {deployment.portal.currency}")
