"""What every command module shares: the `rtcstack` group, clean errors, and the Site of an inventory."""

from __future__ import annotations

# pyinfra_cli monkey-patches the standard library for gevent on import: it must come before
# anything that imports ssl (the docker SDK, urllib3).
import pyinfra_cli  # noqa: F401, I001

import sys
from contextlib import contextmanager
from pathlib import Path

import click

from ..site import ConfigError, SecretsError, Site

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
        from ..domain.provisioning import ProvisioningError
        from ..infra.runner import DeployError
        from ..runtime.remote import RemoteError

        if isinstance(exc, (ProvisioningError, RemoteError, DeployError)):
            fail(str(exc))
        raise


def listed_elsewhere(rows: list[dict], as_json: bool, nothing: str) -> bool:
    """A list command's common cases: with --json one JSON object per row; without rows, `nothing`. True when
    that printed everything; False leaves the table to the caller."""
    if as_json:
        import json

        for row in rows:
            click.echo(json.dumps(row, default=str))
        return True
    if not rows:
        click.echo(nothing)
        return True
    return False


def existing_inventory(inventory: Path) -> None:
    """Exit 1 with one line unless the inventory file exists."""
    if not inventory.is_file():
        fail(f"{inventory}: file not found (give the path of an inventory .py file, such as "
             "inventories/production.py)")


def site_or_exit(inventory: Path, pyinfra_inventory=None) -> Site:
    """The inventory's Site (read once, validated; `pyinfra_inventory` when the command read it already), or
    exit 1 naming every problem."""
    existing_inventory(inventory)
    try:
        return Site.load(inventory, inventory=pyinfra_inventory)
    except (ConfigError, SecretsError) as exc:
        fail(str(exc))


def inventory_or_exit(inventory: Path):
    """pyinfra's Inventory of a file, without validating it (for commands that must run before the secrets
    exist), or exit 1 with the reason."""
    from ..site import load_inventory

    existing_inventory(inventory)
    try:
        return load_inventory(inventory)
    except ConfigError as exc:
        fail(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rtcstack")
def main() -> None:
    """Deploy and prove a real-time communications platform on Debian 12 hosts."""
