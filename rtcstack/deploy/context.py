"""The validated Deployment for the inventory pyinfra is running, loaded once per run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pyinfra import host
from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ctx_inventory

from ..config import ConfigError, Deployment, Host, short_name
from ..config.loader import from_inventory, is_lab_inventory
from ..pki import HostTls, Pki
from ..secrets import SecretsError, SecretStore

INVENTORY_ENV = "RTCSTACK_INVENTORY"
_loaded: dict[int, Deployment] = {}
_tls: dict[tuple[int, str], HostTls] = {}


def inventory_path() -> Path:
    """The inventory file of this run: from `rtcstack deploy`, or found on plain pyinfra's command line."""
    given = os.environ.get(INVENTORY_ENV)
    if given:
        return Path(given)
    for argument in sys.argv[1:]:
        path = Path(argument)
        if path.suffix == ".py" and path.is_file() and "deploys" not in path.parts:
            return path
    raise PyinfraError(f"rtcstack cannot tell which inventory file this run uses: set {INVENTORY_ENV}")


def deployment() -> Deployment:
    """The whole deployment, validated across every host before any operation is queued."""
    inventory = ctx_inventory.get()
    key = id(inventory)
    if key not in _loaded:
        path = inventory_path()
        try:
            secrets = SecretStore.for_inventory(path).values_for_check(is_lab_inventory(inventory))
            _loaded[key] = from_inventory(inventory, secrets, source=str(path))
        except (ConfigError, SecretsError) as exc:
            raise PyinfraError(str(exc)) from None
    return _loaded[key]


def this_host() -> Host:
    return deployment().hosts[short_name(host.name)]


def host_tls() -> HostTls:
    """This host's TLS material from the inventory's PKI, read (or issued) once per run for every deploy
    that installs or serves it."""
    key = (id(ctx_inventory.get()), host.name)
    if key not in _tls:
        _tls[key] = Pki.for_inventory(inventory_path()).host(deployment(), this_host())
    return _tls[key]
