"""`rtcstack check`, `deploy`, `verify` and `settings-reference`: an inventory from validation to proof."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .base import clean_errors, inventory_argument, main, site_or_exit


@main.command()
@inventory_argument
def check(inventory: Path) -> None:
    """Validate INVENTORY and its group_data without connecting to any host."""
    from ..firewall import rules_for

    deployment = site_or_exit(inventory).deployment
    click.echo(f"{inventory}: valid, {len(deployment.hosts)} hosts, {deployment.channels} channels")
    for host in deployment.hosts.values():
        # Exactly what the host's firewall opens (a loopback-only listener such as Janus' admin API is not).
        ports = ", ".join(sorted({f"{rule.ports}/{rule.protocol}" for rule in rules_for(deployment, host)}))
        click.echo(f"  {host.name:<12} {host.private_address!s:<15} {','.join(host.roles) or '-':<28} {ports}")
    for key, value, what in deployment.weakenings():
        click.secho(f"  weakened on purpose (acknowledged_weakenings): {key} = {value!r}: {what}", fg="yellow")


@main.command()
@inventory_argument
@click.option("--limit", metavar="HOSTS_OR_GROUPS", help="Comma-separated host names or groups to deploy.")
@click.option("--dry", is_flag=True, help="Show what would change; change nothing.")
@click.option("--summary-json", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the result (changed and failed operations per host) as JSON here.")
def deploy(inventory: Path, limit: str | None, dry: bool, summary_json: Path | None) -> None:
    """Deploy INVENTORY: base on every host, then each role on its hosts (deploys/site.py)."""
    from ..infra.runner import run

    site = site_or_exit(inventory)  # every problem reported before any host is touched
    with clean_errors():
        result = run(site, limit=limit, dry=dry)
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


@main.command(context_settings={"ignore_unknown_options": True})  # `-k base` and the like go to pytest
@inventory_argument
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def verify(inventory: Path, pytest_args: tuple[str, ...]) -> None:
    """Check INVENTORY's hosts (lab or real) with the testinfra suite shipped in rtcstack.verify."""
    import subprocess

    from .. import verify as suite

    site = site_or_exit(inventory)  # an inventory without hosts is refused here
    here = Path(suite.__file__).parent
    command = [sys.executable, "-m", "pytest", str(here), "-c", str(here / "verify.ini"), "-p", "rtcstack.verify.plugin",
               "-p", "no:cacheprovider", "--rootdir", str(here),
               "--rtcstack-inventory", str(site.path), "--rtcstack-verify-only", "-q", *pytest_args]
    sys.exit(subprocess.call(command))


@main.command("settings-reference")
@click.option("--write", "readme", type=click.Path(dir_okay=False, path_type=Path),
              help="Update the settings block of this README instead of printing it.")
def settings_reference_command(readme: Path | None) -> None:
    """Print the settings reference generated from the models (or update README.md with it)."""
    from ..docs import settings_reference, update_readme

    if readme:
        click.echo(f"{readme}: {'updated' if update_readme(readme) else 'already up to date'}")
    else:
        click.echo(settings_reference())
