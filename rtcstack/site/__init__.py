"""The Site: one inventory, read once, with everything loaded from beside it.

A command builds one `Site` from the inventory path the operator gave: the pyinfra inventory (with the
group_data of the operator's repository), the validated `Deployment`, the encrypted secrets and the PKI.
The CLI, the deploy context, provisioning and the verify tests receive it; nothing reads the inventory
again or looks for it on the command line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..config.problems import ConfigError, Problem
from .deployment import SECRETS, Deployment, Host
from .loader import from_inventory, is_lab_inventory, load, load_inventory, short_name, store_values
from .pki import HostTls, Pki
from .secrets import SecretsError, SecretStore, repository_of


@dataclass
class Site:
    """An inventory and what belongs to it, loaded once."""

    path: Path  #: the inventory file, absolute
    inventory: object  #: pyinfra's Inventory
    deployment: Deployment
    _tls: dict[str, HostTls] = field(default_factory=dict, repr=False)
    #: Connections to hosts opened outside a deploy, by short name (rtcstack.runtime.remote keeps them).
    connections: dict[str, object] = field(default_factory=dict, repr=False)

    @classmethod
    def load(cls, inventory_path: str | os.PathLike, inventory=None) -> Site:
        """Read and validate an inventory (raises ConfigError or SecretsError, naming every problem).
        `inventory`: pyinfra's Inventory when the caller has it already (a running deploy)."""
        path = Path(inventory_path).resolve()
        if inventory is None:
            inventory = load_inventory(inventory_path)
        deployment = from_inventory(inventory, store_values(path, inventory), source=str(inventory_path))
        return cls(path, inventory, deployment)

    @property
    def name(self) -> str:
        """The inventory's name: `lab` for inventories/lab.py."""
        return self.path.stem

    @property
    def root(self) -> Path:
        """The operator's repository: where group_data/ lives."""
        return repository_of(self.path)

    @property
    def secrets(self) -> SecretStore:
        return SecretStore.for_inventory(self.path)

    @property
    def pki(self) -> Pki:
        return Pki.for_inventory(self.path)

    @property
    def is_lab(self) -> bool:
        return is_lab_inventory(self.inventory)

    def host(self, name: str) -> Host:
        """A host of the deployment by short name or pyinfra name (`@docker/db1`)."""
        return self.deployment.hosts[short_name(name)]

    def pyinfra_hosts(self) -> dict[str, object]:
        """pyinfra's hosts by short name."""
        return {short_name(h.name): h for h in self.inventory}

    def host_tls(self, host: Host) -> HostTls:
        """A host's TLS material from the PKI, read (or issued) once per Site."""
        if host.name not in self._tls:
            self._tls[host.name] = self.pki.host(self.deployment, host)
        return self._tls[host.name]


__all__ = ["SECRETS", "ConfigError", "Deployment", "Host", "HostTls", "Pki", "Problem", "SecretStore", "SecretsError",
           "Site", "load", "load_inventory", "short_name"]
