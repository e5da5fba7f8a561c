"""The `rtcstack` command line."""

from __future__ import annotations

# pyinfra_cli monkey-patches the standard library for gevent on import: it must come before
# anything that imports ssl (the docker SDK, urllib3).
import pyinfra_cli  # noqa: F401, I001

import sys
from contextlib import contextmanager
from pathlib import Path

import click

from .config import ConfigError, load
from .config.deployment import SECRETS
from .secrets import SecretsError, SecretStore

DEFAULT_LAB = "inventories/lab.py"
inventory_argument = click.argument("inventory", type=click.Path(dir_okay=False, path_type=Path))


def fail(message: str, code: int = 1):
    click.secho(message, fg="red", err=True)
    sys.exit(code)


@contextmanager
def clean_errors():
    """Turn an operator-facing error into its message and exit 1, never a traceback."""
    try:
        yield
    except (ConfigError, SecretsError) as exc:
        fail(str(exc))
    except Exception as exc:
        from .provisioning import ProvisioningError
        from .remote import RemoteError

        if isinstance(exc, (ProvisioningError, RemoteError)):
            fail(str(exc))
        raise


def load_or_exit(inventory: Path):
    try:
        return load(inventory)
    except (ConfigError, SecretsError) as exc:
        fail(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rtcstack")
def main() -> None:
    """Deploy and prove a real-time communications platform on Debian 12 hosts."""


@main.command()
@inventory_argument
def check(inventory: Path) -> None:
    """Validate INVENTORY and its group_data without connecting to any host."""
    deployment = load_or_exit(inventory)
    click.echo(f"{inventory}: valid, {len(deployment.hosts)} hosts, {deployment.channels} channels")
    for host in deployment.hosts.values():
        ports = ", ".join(sorted({f"{lst.ports}/{lst.protocol}" for lst in deployment.listeners(host)}))
        click.echo(f"  {host.name:<12} {host.private_address!s:<15} {','.join(host.roles) or '-':<28} {ports}")


# --- secrets -----------------------------------------------------------------------------------


@main.group()
def secrets() -> None:
    """Generate and rotate the encrypted secrets beside an inventory."""


def _roles_of(inventory: Path) -> set[str]:
    from .config import ROLES, load_inventory

    try:
        inv = load_inventory(inventory)
    except ConfigError as exc:
        fail(str(exc))
    return {group for host in inv for group in host.groups if group in ROLES}


@secrets.command("init")
@inventory_argument
def secrets_init(inventory: Path) -> None:
    """Generate every secret INVENTORY's roles need that is not there yet."""
    roles = _roles_of(inventory)
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
    with clean_errors():
        SecretStore.for_inventory(inventory).rotate(name)
    click.echo(f"rotated {name}; run `rtcstack deploy {inventory}` to roll it out")


@secrets.command("list")
@inventory_argument
def secrets_list(inventory: Path) -> None:
    """List the secrets in the store with their creation times (never their values)."""
    with clean_errors():
        for name, created in SecretStore.for_inventory(inventory).listing():
            click.echo(f"{name:<32} {created}")


@secrets.command("remove")
@inventory_argument
@click.argument("name")
def secrets_remove(inventory: Path, name: str) -> None:
    """Remove secret NAME from the store (for a role no longer deployed)."""
    with clean_errors():
        SecretStore.for_inventory(inventory).remove(name)
    click.echo(f"removed {name}")


# --- deploy ------------------------------------------------------------------------------------


@main.command()
@inventory_argument
@click.option("--limit", metavar="HOSTS_OR_GROUPS", help="Comma-separated host names or groups to deploy.")
@click.option("--dry", is_flag=True, help="Show what would change; change nothing.")
@click.option("--summary-json", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the result (changed and failed operations per host) as JSON here.")
def deploy(inventory: Path, limit: str | None, dry: bool, summary_json: Path | None) -> None:
    """Deploy INVENTORY: base on every host, then each role on its hosts (deploys/site.py)."""
    from .deploy.runner import run

    load_or_exit(inventory)  # every problem reported before any host is touched
    summary_json = summary_json.resolve() if summary_json else None
    result = run(inventory, limit=limit, dry=dry)
    if summary_json:
        summary_json.write_text(result.to_json())
    if dry:
        click.echo(f"rtcstack: dry run: {result.operations} operations, nothing changed; may change (including steps decided at run time): "
                   + ", ".join(f"{host} {count}" for host, count in sorted(result.planned.items())))
    else:
        click.echo(f"rtcstack: {result.operations} operations, {result.changed_count} changed, "
                   f"{sum(map(len, result.failed.values()))} failed")
        for name, hosts in result.changed.items():
            click.echo(f"  changed: {name} on {', '.join(hosts)}")
    for name, hosts in result.failed.items():
        click.secho(f"  FAILED: {name} on {', '.join(hosts)}", fg="red", err=True)
    if result.failed_hosts:
        click.secho(f"rtcstack: failed hosts: {', '.join(result.failed_hosts)}", fg="red", err=True)
    sys.exit(result.exit_code)


@main.command()
@inventory_argument
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def verify(inventory: Path, pytest_args: tuple[str, ...]) -> None:
    """Check INVENTORY's hosts (lab or real) with the testinfra suite in tests/verify."""
    import subprocess

    from . import PROJECT_ROOT

    load_or_exit(inventory)
    command = [sys.executable, "-m", "pytest", str(PROJECT_ROOT / "tests" / "verify"), "-p", "no:cacheprovider",
               "--rtcstack-inventory", str(inventory.resolve()), "--rtcstack-verify-only", "-q", *pytest_args]
    sys.exit(subprocess.call(command, cwd=PROJECT_ROOT))


@main.command("settings-reference")
@click.option("--write", "readme", type=click.Path(dir_okay=False, path_type=Path),
              help="Update the settings block of this README instead of printing it.")
def settings_reference_command(readme: Path | None) -> None:
    """Print the settings reference generated from the models (or update README.md with it)."""
    from .docs import settings_reference, update_readme

    if readme:
        click.echo(f"{readme}: {'updated' if update_readme(readme) else 'already up to date'}")
    else:
        click.echo(settings_reference())


# --- lab ---------------------------------------------------------------------------------------


@main.group()
def lab() -> None:
    """Bring the Docker test lab up or down, or show it."""


lab_inventory = click.argument("inventory", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_LAB)


def _lab(inventory: Path):
    from .lab import Lab, LabError

    try:
        SecretStore.for_inventory(inventory).init(list(SECRETS))
        return Lab(load_or_exit(inventory), inventory.stem)
    except (LabError, SecretsError) as exc:
        fail(str(exc))


@lab.command("up")
@lab_inventory
def lab_up(inventory: Path) -> None:
    """Build the images if needed and start one systemd container per host (idempotent)."""
    from .lab import LabError
    from .pki import Pki

    the_lab = _lab(inventory)
    try:
        the_lab.up()
    except LabError as exc:
        fail(str(exc))
    pki = Pki.for_inventory(inventory)
    for host in the_lab.deployment.hosts.values():
        pki.host(the_lab.deployment, host)
    click.echo(f"lab {inventory.stem} is up; deploy it with `rtcstack deploy {inventory}`")


@lab.command("down")
@lab_inventory
def lab_down(inventory: Path) -> None:
    """Remove the lab's containers and network (images and the apt cache stay)."""
    _lab(inventory).down()


@lab.command("status")
@lab_inventory
def lab_status(inventory: Path) -> None:
    """Show each lab host's container and systemd state; exit 1 unless all are up."""
    the_lab = _lab(inventory)
    rows = the_lab.status()
    click.echo(f"{'host':<10} {'container':<10} {'address':<15} systemd")
    for name, state, address, systemd in rows:
        click.echo(f"{name:<10} {state:<10} {address:<15} {systemd}")
    sys.exit(0 if the_lab.is_up() else 1)


# Subcommand groups that live in their own modules register themselves on `main`.
from . import cli_load, cli_media, cli_signalling  # noqa: E402, F401

if __name__ == "__main__":
    # Run as `python -m rtcstack.cli`: this module is __main__, and the command groups of other modules
    # registered themselves on the importable rtcstack.cli.main.
    from rtcstack.cli import main as importable_main

    importable_main()

