"""`rtcstack lab`: the Docker test lab of a lab inventory."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..site import SECRETS, SecretsError, SecretStore
from .base import fail, inventory_or_exit, main, site_or_exit

DEFAULT_LAB = "inventories/lab.py"


@main.group()
def lab() -> None:
    """Bring the Docker test lab up or down, or show it."""


lab_inventory = click.argument("inventory", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_LAB)


def _lab(inventory: Path):
    """The Lab of a lab inventory (its secrets made on first use)."""
    from ..lab import Lab, LabError
    from ..site.loader import is_lab_inventory

    pyinfra_inventory = inventory_or_exit(inventory)
    if not is_lab_inventory(pyinfra_inventory):
        fail(f"{inventory}: not a lab inventory (its group_data sets no `lab` section); `rtcstack lab` builds "
             "Docker labs only")
    try:
        SecretStore.for_inventory(inventory).init(list(SECRETS))
        site = site_or_exit(inventory, pyinfra_inventory)
        return Lab(site.deployment, site.name, key_dir=site.path.parent), site
    except (LabError, SecretsError) as exc:
        fail(str(exc))


@lab.command("up")
@lab_inventory
def lab_up(inventory: Path) -> None:
    """Build the images if needed and start one systemd container per host (idempotent)."""
    from ..lab import LabError

    from ..lab_nat import NatNetworks

    the_lab, site = _lab(inventory)
    try:
        the_lab.up()
        NatNetworks(the_lab).up()
    except LabError as exc:
        fail(str(exc))
    for host in site.deployment.hosts.values():
        site.host_tls(host)
    click.echo(f"lab {site.name} is up; deploy it with `rtcstack deploy {inventory}`")


@lab.command("down")
@lab_inventory
def lab_down(inventory: Path) -> None:
    """Remove the lab's containers and networks (images and the apt cache stay)."""
    from ..lab_nat import NatNetworks

    the_lab = _lab(inventory)[0]
    the_lab.down()
    NatNetworks(the_lab).down()


@lab.command("status")
@lab_inventory
def lab_status(inventory: Path) -> None:
    """Show each lab host's container and systemd state; exit 1 unless all are up."""
    from ..lab_nat import NatNetworks

    the_lab = _lab(inventory)[0]
    rows = the_lab.status()
    click.echo(f"{'host':<10} {'container':<10} {'address':<15} systemd")
    for name, state, address, systemd in rows:
        click.echo(f"{name:<10} {state:<10} {address:<15} {systemd}")
    nat = NatNetworks(the_lab).status()
    if nat:
        click.echo(f"\n{'NAT lab':<22} {'container':<10} {'address':<15} role")
        for name, state, address, role in nat:
            click.echo(f"{name:<22} {state:<10} {address:<15} {role}")
    sys.exit(0 if the_lab.is_up() and all(row[1] == "running" for row in nat) else 1)


@lab.command("run", context_settings={"ignore_unknown_options": True})
@click.argument("inventory", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("network")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def lab_run(inventory: Path, network: str, command: tuple[str, ...]) -> None:
    """Run COMMAND (this machine's program) inside client network NETWORK, behind its NAT router:
    `rtcstack lab run inventories/lab.py home -- sipp ...`."""
    import os

    from ..lab import LabError
    from ..lab_nat import NatNetworks

    try:
        client = NatNetworks(_lab(inventory)[0]).get(network)
    except LabError as exc:
        fail(str(exc))
    argv = client.command(list(command))
    os.execvp(argv[0], argv)
