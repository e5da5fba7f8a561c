"""`rtcstack database status|promote|rejoin`: the PostgreSQL primary and its streaming standbys (scale-out)."""

from __future__ import annotations

from pathlib import Path

import click

from .base import clean_errors, inventory_argument, main, site_or_exit


@main.group()
def database() -> None:
    """The database hosts: which takes writes, failover to a standby, rejoining a former primary."""


@database.command("status")
@inventory_argument
def database_status(inventory: Path):
    """Each database host: primary, standby, fenced or down, and how far behind each standby is."""
    from ..runtime.replication import states

    with clean_errors():
        rows = states(site_or_exit(inventory))
    click.echo(f"{'host':<16} {'role':<8} detail")
    for row in rows:
        click.echo(f"{row.host:<16} {row.role:<8} {row.detail}")


@database.command("promote")
@inventory_argument
@click.argument("host")
@click.option("--old-primary-gone", is_flag=True,
              help="The old primary cannot be reached and is down for good (it cannot be fenced).")
def database_promote(inventory: Path, host: str, old_primary_gone: bool):
    """Make standby HOST the primary (the old primary is fenced: read-only until rejoined)."""
    from ..runtime.replication import promote

    with clean_errors():
        promote(site_or_exit(inventory), host, old_primary_gone, say=click.echo)


@database.command("rejoin")
@inventory_argument
@click.argument("host")
def database_rejoin(inventory: Path, host: str):
    """Make HOST (a fenced former primary, or a lost standby) a standby of the primary, from a fresh copy."""
    from ..runtime.replication import rejoin

    with clean_errors():
        rejoin(site_or_exit(inventory), host, say=click.echo)
