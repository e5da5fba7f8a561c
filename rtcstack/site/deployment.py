"""The deployment-wide model: every host, its roles, and the cross-checks between them.

The schema is the deployment-wide settings plus one section per role in the registry; everything that
spans roles (listeners, secrets, accounts, database logins, kernel settings, edge routes) is asked of the
roles, never decided here by a role's name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from ipaddress import IPv4Address
from typing import Any, Literal

from pydantic import Field, SecretStr, create_model, field_validator

from ..config.ports import Listener, PortRange
from ..config.problems import Problem
from ..config.settings import AptSettings, BillingSettings, HostSettings, Int, LabSettings, LoadSettings, Settings, SystemSettings
from ..roles import REGISTRY, ROLES, DatabaseLogin, EdgeRoute
from ..roles.base import network_sysctls

RoleName = Literal[ROLES]  # type: ignore[valid-type]


@dataclass(frozen=True)
class SecretSpec:
    description: str
    roles: tuple[str, ...]


def _secrets() -> dict[str, SecretSpec]:
    out: dict[str, SecretSpec] = {}
    for role in REGISTRY.values():
        for name, description in role.secrets.items():
            known = out.get(name)
            out[name] = SecretSpec(description, (*known.roles, role.name) if known else (role.name,))
    return out


#: Every secret a deployment may need, and the roles that need it (declared by the roles).
SECRETS: dict[str, SecretSpec] = _secrets()
SECRET_MIN_LENGTH = 24
_PLACEHOLDER = re.compile(r"change.?me|placeholder|replace|todo|xxx|secret|password|example|<.*>", re.IGNORECASE)


class Host(HostSettings):
    """One host: its settings plus the roles (inventory groups) it carries."""

    name: str = Field(description="Host name as the inventory gives it, without a connector prefix.")
    roles: tuple[RoleName, ...] = Field(description="Roles this host carries, from its inventory groups.")


class DeploymentBase(Settings):
    """Everything rtcstack deploys, validated before any host is touched (the schema: `Deployment`)."""

    sip_domain: str = Field(description="SIP domain of the deployment (also the TURN realm).")
    channels: Int = Field(
        300, ge=1, le=300, description="Concurrent channels the deployment is sized for (1 to 300)."
    )
    port_headroom_percent: Int = Field(
        25, ge=0, le=200, description="Extra ports on top of what channels need, for churn between calls."
    )
    system: SystemSettings = Field(default_factory=SystemSettings, description="Base system settings.")
    apt: AptSettings = Field(default_factory=AptSettings, description="Package sources.")
    billing: BillingSettings = Field(default_factory=BillingSettings, description="Prices, billing increment and "
                                     "minute packs (P13).")
    lab: LabSettings | None = Field(None, description="Docker test lab settings; only lab inventories have them.")
    acknowledged_weakenings: tuple[str, ...] = Field(
        (), description="Settings that switch a protection off on purpose (such as `turn.denied_peer_networks`); "
                        "`check` refuses such a setting unless its key is listed here, and lists those that are.")

    @field_validator("sip_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        label = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
        if not re.fullmatch(rf"{label}(\.{label})+", value):
            raise ValueError("must be a lower-case DNS name with at least two labels, such as voip.example.com")
        return value

    # --- derived values --------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        """`deployment.<role>_<value>`: a value the role derives from the deployment (media_rtp_ports)."""
        role, _, value = name.partition("_")
        spec = REGISTRY.get(role)
        if spec is not None and value in spec.derived:
            return spec.derived[value](self)
        return super().__getattr__(name)

    def dns_name(self, host: Host) -> str:
        """The name clients use for a host (its certificate carries it): an inventory name that is already
        a DNS name, else the name inside sip_domain."""
        return host.name if "." in host.name else f"{host.name}.{self.sip_domain}"

    def hosts_with(self, *roles: str) -> list[Host]:
        return [h for h in self.hosts.values() if any(r in h.roles for r in roles)]

    def addresses_of(self, *roles: str) -> tuple[IPv4Address, ...]:
        return tuple(sorted({h.private_address for h in self.hosts_with(*roles)}))

    @cached_property
    def roles_used(self) -> frozenset[str]:
        return frozenset(r for h in self.hosts.values() for r in h.roles)

    def roles_fronting(self) -> tuple[str, ...]:
        """The roles that proxy the others' HTTP (the edge)."""
        return tuple(r.name for r in REGISTRY.values() if r.fronts_proxied)

    def listeners(self, host: Host) -> list[Listener]:
        """Every port or range a host serves, with who may reach it: the firewall opens exactly these."""
        ssh = Listener("ssh", "tcp", PortRange(self.system.ssh_port, self.system.ssh_port), "system.ssh_port")
        return [ssh, *(listener for role in host.roles for listener in REGISTRY[role].listeners(self, host))]

    def service_accounts(self, host: Host) -> list[str]:
        return [REGISTRY[role].account for role in host.roles if REGISTRY[role].account]

    def sysctls(self, host: Host) -> dict[str, int]:
        """Kernel settings for a host, sized from channels (not applied inside containers)."""
        out = {"fs.file-max": 1_048_576, "net.core.somaxconn": 4096}
        if any(REGISTRY[role].network_heavy for role in host.roles):
            out |= network_sysctls(self)
        return out

    def database_logins(self) -> list[tuple[str, DatabaseLogin]]:
        """(role, login) for every role with hosts that uses the database."""
        return [(r.name, login) for r in REGISTRY.values() if r.database_login and r.name in self.roles_used
                for login in (r.database_login, *r.extra_database_logins)]

    def edge_routes(self) -> list[tuple[str, EdgeRoute]]:
        """(role, route) for every path the roles with hosts contribute to the edge."""
        return [(r.name, route) for r in REGISTRY.values() if r.name in self.roles_used for route in r.edge_routes(self)]

    def certificate_names(self, host: Host) -> list[str]:
        """DNS names a host's certificate carries: its names, and the SIP domain where clients use it."""
        names = [host.name, f"{host.name}.{self.sip_domain}"]
        if any(REGISTRY[role].serves_sip_domain for role in host.roles):
            names.append(self.sip_domain)
        return names

    def required_secrets(self) -> list[str]:
        return [name for name, spec in SECRETS.items() if set(spec.roles) & self.roles_used]

    def secret(self, name: str) -> str:
        return self.secrets[name].get_secret_value()

    # --- cross-checks ----------------------------------------------------------------------

    def problems(self) -> list[Problem]:
        """Checks across the whole inventory; every problem, not only the first."""
        return [
            *self._role_problems(),
            *self._address_problems(),
            *self._port_problems(),
            *self._secret_problems(),
            *self._weakening_problems(),
            *(problem for role in REGISTRY.values() if role.name in self.roles_used for problem in role.problems(self)),
        ]

    def _role_problems(self) -> list[Problem]:
        out = []
        for role in sorted(self.roles_used):
            users = ", ".join(h.name for h in self.hosts_with(role))
            for needed in REGISTRY[role].needs:
                if needed not in self.roles_used:
                    out.append(Problem(
                        f"groups.{needed}", [], f"role {role} (on {users}) needs a {needed} host and there is none",
                        f"add a host to the '{needed}' group of the inventory"))
            proxied = [r.name for r in REGISTRY.values() if r.proxied]
            if REGISTRY[role].fronts_proxied and not self.roles_used & set(proxied):
                out.append(Problem(
                    f"groups.{role}", users,
                    f"the {role} has nothing to proxy: no {', '.join(proxied[:-1])} or {proxied[-1]} host",
                    f"add hosts to those groups, or remove the {role} group"))
        return out

    def _address_problems(self) -> list[Problem]:
        out = []
        seen: dict[IPv4Address, str] = {}
        for host in self.hosts.values():
            key = f"hosts.{host.name}.private_address"
            other = seen.setdefault(host.private_address, host.name)
            if other != host.name:
                out.append(Problem(key, str(host.private_address), f"host {other} has the same private address",
                                   "give every host its own private address"))
            if self.lab:
                subnet = self.lab.subnet
                usable = host.private_address in subnet and host.private_address not in (
                    subnet.network_address, subnet.broadcast_address, next(subnet.hosts()))
                if not usable:
                    out.append(Problem(key, str(host.private_address),
                                       f"is not a usable host address of the lab subnet {subnet} (the first is the gateway)",
                                       f"pick an address from {subnet} other than its network, gateway and broadcast"))
        public = self.lab.public_network if self.lab else None
        for host in self.hosts.values() if public else ():
            subnet = public.subnet
            reserved = {subnet.network_address + n for n in (0, 1, 2, 250)} | {subnet.broadcast_address}
            if host.public_address is None or host.public_address not in subnet or host.public_address in reserved:
                out.append(Problem(
                    f"hosts.{host.name}.public_address", str(host.public_address),
                    f"the lab puts its hosts behind a 1:1 NAT on {subnet} (lab.public_network): each host needs a "
                    f"public address there", f"give {host.name} a public_address in {subnet} other than its .0, .1, "
                    f".2, .250 and broadcast"))
            elif host.public_address in {h.public_address for h in self.hosts.values() if h is not host}:
                out.append(Problem(f"hosts.{host.name}.public_address", str(host.public_address),
                                   "another host has the same public address", "give every host its own"))
        for i, net in enumerate(self.lab.client_networks if self.lab else ()):
            if net.router_address in seen:
                out.append(Problem(f"lab.client_networks[{i}].router_address", str(net.router_address),
                                   f"is host {seen[net.router_address]}'s private address",
                                   "give the NAT router an address no host has"))
        return out

    def _port_problems(self) -> list[Problem]:
        out = []
        by_host = {host.name: self.listeners(host) for host in self.hosts.values()}
        ranges = {lst.key: lst.ports for listeners in by_host.values() for lst in listeners if lst.ports.size > 1}
        for key, ports in ranges.items():
            if ports.end > 65535:
                out.append(Problem(key, ports.start, f"the range sized from channels={self.channels} ends at {ports.end}, past 65535",
                                   f"set {key} to {65535 - ports.size + 1} or lower"))
        for name, listeners in by_host.items():
            for i, a in enumerate(listeners):
                for b in listeners[i + 1:]:
                    if a.protocol == b.protocol and a.ports.overlaps(b.ports):
                        out.append(Problem(
                            b.key, b.ports.start,
                            f"{b.describe()} overlap {a.describe()} ({a.key}) on host {name}",
                            f"move one of them: change {b.key} or {a.key}"))
        return out

    def weakenings(self) -> list[tuple[str, object, str]]:
        """Every protection the settings switch off: (key, value, what is lost), from the roles with hosts."""
        return [item for role in REGISTRY.values() if role.name in self.roles_used for item in role.weakened(self)]

    def _weakening_problems(self) -> list[Problem]:
        known = [key for role in REGISTRY.values() for key in role.weakenable]
        out = [Problem("acknowledged_weakenings", key, "names no setting that can weaken a protection",
                       f"remove it (such settings: {', '.join(known)})")
               for key in self.acknowledged_weakenings if key not in known]
        for key, value, what in self.weakenings():
            if key not in self.acknowledged_weakenings:
                out.append(Problem(key, value, f"switches a protection off: {what}",
                                   f"restore the default, or add \"{key}\" to acknowledged_weakenings if you mean it"))
        return out

    def _secret_problems(self) -> list[Problem]:
        out = []
        for name in self.required_secrets():
            value = self.secrets.get(name)
            spec = SECRETS[name]
            if value is None:
                out.append(Problem(f"secrets.{name}", None, f"is missing ({spec.description}, needed by {', '.join(spec.roles)})",
                                   "run `rtcstack secrets init INVENTORY` to generate it"))
                continue
            raw = value.get_secret_value()
            if len(raw) < SECRET_MIN_LENGTH or _PLACEHOLDER.search(raw):
                out.append(Problem(f"secrets.{name}", raw, f"looks like a placeholder (shorter than {SECRET_MIN_LENGTH} characters or a stock word)",
                                   f"run `rtcstack secrets rotate INVENTORY {name}` to replace it with a generated one"))
        return out


#: The schema: the deployment-wide settings, one section per role of the registry, then load testing,
#: the hosts and the secrets.
Deployment = create_model(
    "Deployment", __base__=DeploymentBase, __doc__=DeploymentBase.__doc__,
    **{name: (role.settings, Field(default_factory=role.settings, description=role.description))
       for name, role in REGISTRY.items()},
    load=(LoadSettings, Field(default_factory=LoadSettings, description="`rtcstack load` pacing and service levels.")),
    hosts=(dict[str, Host], Field(description="Hosts by name (from the inventory).")),
    secrets=(dict[str, SecretStr], Field(default_factory=dict,
                                         description="Secrets from the encrypted store (never from the inventory).")),
)
