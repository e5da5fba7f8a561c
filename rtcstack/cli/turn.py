"""`rtcstack turn-credentials`: what the turn role hands browsers (M3)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .base import fail, inventory_argument, main, site_or_exit


@main.command("turn-credentials")
@inventory_argument
@click.argument("user")
@click.option("--lifetime", type=click.IntRange(60, 7 * 86400), default=None,
              help="Seconds the credentials stay valid (default: turn.credential_lifetime_seconds).")
def turn_credentials(inventory: Path, user: str, lifetime: int | None) -> None:
    """Print time-limited TURN credentials for USER as the iceServers JSON a browser takes."""
    from ..protocols.turn_rest import rest_credentials
    from ..roles.turn import turn_uris

    deployment = site_or_exit(inventory).deployment
    if not deployment.hosts_with("turn"):
        fail(f"{inventory} has no turn host: add hosts to the turn group")
    try:
        creds = rest_credentials(deployment.secret("turn_shared_secret"), user,
                                 lifetime or deployment.turn.credential_lifetime_seconds, uris=turn_uris(deployment))
    except ValueError as exc:
        fail(str(exc))
    click.echo(json.dumps({"iceServers": [creds.ice_server()], "expires": creds.expires_at}, indent=2))
