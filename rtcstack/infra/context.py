"""The Site of the running deploy: handed in by `rtcstack deploy`, or loaded once for plain pyinfra."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api.exceptions import PyinfraError
from pyinfra.context import ctx_inventory

from ..site import ConfigError, Deployment, Host, HostTls, SecretsError, Site
from ..site.loader import INVENTORY_DATA_KEY

_site: Site | None = None


def use(site: Site | None) -> None:
    """Hand the deploy the Site the command loaded (None: forget it)."""
    global _site
    _site = site


def site() -> Site:
    """The Site whose inventory pyinfra is running. Under plain pyinfra it is loaded once from the inventory
    named by `--data rtcstack_inventory=INVENTORY`."""
    global _site
    inventory = ctx_inventory.get()
    if _site is not None and (inventory is None or _site.inventory is inventory):
        return _site
    path = host.data.get(INVENTORY_DATA_KEY) if inventory is not None else None
    if not path:
        raise PyinfraError("rtcstack's deploys run through `rtcstack deploy INVENTORY`; with plain pyinfra, "
                           f"name the inventory again: `pyinfra INVENTORY deploys/site.py --data {INVENTORY_DATA_KEY}=INVENTORY`")
    try:
        _site = Site.load(path, inventory=inventory)
    except (ConfigError, SecretsError) as exc:
        raise PyinfraError(str(exc)) from None
    return _site


def deployment() -> Deployment:
    """The whole deployment, validated across every host before any operation is queued."""
    return site().deployment


def this_host() -> Host:
    return site().host(host.name)


def host_tls() -> HostTls:
    """This host's TLS material, read (or issued) once per run for every deploy that installs or serves it."""
    return site().host_tls(this_host())
