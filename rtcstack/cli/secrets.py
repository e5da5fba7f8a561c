"""`rtcstack secrets`: the encrypted secrets beside an inventory."""

from __future__ import annotations

from pathlib import Path

import click

from ..roles import ROLES
from ..site import SECRETS, SecretStore
from .base import clean_errors, existing_inventory, inventory_argument, inventory_or_exit, main


@main.group()
def secrets() -> None:
    """Generate and rotate the encrypted secrets beside an inventory."""


@secrets.command("init")
@inventory_argument
def secrets_init(inventory: Path) -> None:
    """Generate every secret INVENTORY's roles need that is not there yet."""
    roles = {group for host in inventory_or_exit(inventory) for group in host.groups if group in ROLES}
    names = [name for name, spec in SECRETS.items() if set(spec.roles) & roles]
    store = SecretStore.for_inventory(inventory)
    with clean_errors():
        made = store.init(names)
    click.echo(f"{store.path}: generated {', '.join(made) if made else 'nothing (all present)'}")


@secrets.command("rotate")
@inventory_argument
@click.argument("name", type=click.Choice(sorted(SECRETS)))
def secrets_rotate(inventory: Path, name: str) -> None:
    """Replace secret NAME with a new generated value (deploy afterwards)."""
    existing_inventory(inventory)
    with clean_errors():
        SecretStore.for_inventory(inventory).rotate(name)
    click.echo(f"rotated {name}; run `rtcstack deploy {inventory}` to roll it out")


@secrets.command("list")
@inventory_argument
def secrets_list(inventory: Path) -> None:
    """List the secrets in the store with their creation times (never their values)."""
    existing_inventory(inventory)
    with clean_errors():
        for name, created in SecretStore.for_inventory(inventory).listing():
            click.echo(f"{name:<32} {created}")


@secrets.command("remove")
@inventory_argument
@click.argument("name")
def secrets_remove(inventory: Path, name: str) -> None:
    """Remove secret NAME from the store (for a role no longer deployed)."""
    existing_inventory(inventory)
    with clean_errors():
        SecretStore.for_inventory(inventory).remove(name)
    click.echo(f"removed {name}")
