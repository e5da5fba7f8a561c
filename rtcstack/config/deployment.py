"""The deployment-wide model: every host, its roles, derived port ranges and cross-checks."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from ipaddress import IPv4Address, IPv4Network
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from .ports import Listener, PortRange
from .problems import Problem
from .settings import (
    AptSettings,
    DatabaseSettings,
    EdgeSettings,
    HostSettings,
    LabSettings,
    LoadSettings,
    LinksSettings,
    MediaSettings,
    PortalSettings,
    RegistrarSettings,
    Settings,
    SfuSettings,
    SystemSettings,
    TurnSettings,
)

Role = Literal["database", "registrar", "media", "turn", "sfu", "links", "portal", "edge"]
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]

#: Roles each role cannot work without (one of them when the tuple is marked any=True).
ROLE_NEEDS: dict[str, tuple[str, ...]] = {
    "registrar": ("database", "media"),
    "media": ("registrar",),
    "sfu": ("turn", "edge"),
    "links": ("database", "sfu", "turn", "edge"),
    "portal": ("database", "edge"),
}
#: The edge proxies at least one of these.
EDGE_UPSTREAMS = ("sfu", "links", "portal")

#: System accounts rtcstack creates for its own services (Debian's daemons bring their own).
SERVICE_ACCOUNTS: dict[str, str] = {"sfu": "rtcstack-janus", "links": "rtcstack-links", "portal": "rtcstack-portal"}


@dataclass(frozen=True)
class SecretSpec:
    description: str
    roles: tuple[str, ...]


#: Every secret a deployment may need, and the roles that need it.
SECRETS: dict[str, SecretSpec] = {
    "database_registrar_password": SecretSpec("PostgreSQL password of Kamailio's database user", ("registrar",)),
    "database_links_password": SecretSpec("PostgreSQL password of the links service's user", ("links",)),
    "database_portal_password": SecretSpec("PostgreSQL password of the portal's user", ("portal",)),
    "turn_shared_secret": SecretSpec("coturn REST-API shared secret for time-limited credentials", ("turn",)),
    "janus_api_secret": SecretSpec("Janus API secret", ("sfu",)),
    "janus_admin_secret": SecretSpec("Janus admin API secret", ("sfu",)),
    "janus_token_secret": SecretSpec("key that signs time-limited Janus API tokens for browsers", ("sfu",)),
    "janus_room_key": SecretSpec("Janus video-room and text-room admin key: creating a room needs it", ("sfu",)),
    "links_signing_key": SecretSpec("key that signs invite and conference links", ("links",)),
    "portal_session_key": SecretSpec("key that signs portal sessions", ("portal",)),
    "load_account_key": SecretSpec("key deriving the passwords of `rtcstack load`'s test accounts", ("registrar",)),
}
SECRET_MIN_LENGTH = 24
_PLACEHOLDER = re.compile(r"change.?me|placeholder|replace|todo|xxx|secret|password|example|<.*>", re.IGNORECASE)


class Host(HostSettings):
    """One host: its settings plus the roles (inventory groups) it carries."""

    name: str = Field(description="Host name as the inventory gives it, without a connector prefix.")
    roles: tuple[Role, ...] = Field(description="Roles this host carries, from its inventory groups.")


class Deployment(Settings):
    """Everything rtcstack deploys, validated before any host is touched."""

    sip_domain: str = Field(description="SIP domain of the deployment (also the TURN realm).")
    channels: int = Field(
        300, ge=1, le=300, description="Concurrent channels the deployment is sized for (1 to 300)."
    )
    port_headroom_percent: int = Field(
        25, ge=0, le=200, description="Extra ports on top of what channels need, for churn between calls."
    )
    system: SystemSettings = Field(default_factory=SystemSettings, description="Base system settings.")
    apt: AptSettings = Field(default_factory=AptSettings, description="Package sources.")
    lab: LabSettings | None = Field(None, description="Docker test lab settings; only lab inventories have them.")
    database: DatabaseSettings = Field(default_factory=DatabaseSettings, description="database role.")
    registrar: RegistrarSettings = Field(default_factory=RegistrarSettings, description="registrar role.")
    media: MediaSettings = Field(default_factory=MediaSettings, description="media role.")
    turn: TurnSettings = Field(default_factory=TurnSettings, description="turn role.")
    sfu: SfuSettings = Field(default_factory=SfuSettings, description="sfu role.")
    links: LinksSettings = Field(default_factory=LinksSettings, description="links role.")
    portal: PortalSettings = Field(default_factory=PortalSettings, description="portal role.")
    edge: EdgeSettings = Field(default_factory=EdgeSettings, description="edge role.")
    load: LoadSettings = Field(default_factory=LoadSettings, description="`rtcstack load` pacing and service levels.")
    hosts: dict[str, Host] = Field(description="Hosts by name (from the inventory).")
    secrets: dict[str, SecretStr] = Field(
        default_factory=dict, description="Secrets from the encrypted store (never from the inventory)."
    )

    @field_validator("sip_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        label = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
        if not re.fullmatch(rf"{label}(\.{label})+", value):
            raise ValueError("must be a lower-case DNS name with at least two labels, such as voip.example.com")
        return value

    # --- derived values --------------------------------------------------------------------

    def _range(self, start: int, per_channel: int) -> PortRange:
        size = math.ceil(self.channels * per_channel * (100 + self.port_headroom_percent) / 100)
        return PortRange.sized(start, size)

    @cached_property
    def media_rtp_ports(self) -> PortRange:
        """rtpengine's RTP range, sized from channels."""
        return self._range(self.media.rtp_port_min, self.media.ports_per_channel)

    @cached_property
    def turn_relay_ports(self) -> PortRange:
        """coturn's relay range, sized from channels."""
        return self._range(self.turn.relay_port_min, self.turn.allocations_per_channel)

    @cached_property
    def sfu_rtp_ports(self) -> PortRange:
        """Janus' RTP range, sized from channels."""
        return self._range(self.sfu.rtp_port_min, self.sfu.ports_per_channel)

    @cached_property
    def turn_total_quota(self) -> int:
        """Concurrent allocations one TURN host admits: the setting, or as many as the relay range holds."""
        return self.turn.total_quota or self.turn_relay_ports.size

    @cached_property
    def turn_allowed_peers(self) -> tuple[IPv4Network, ...]:
        """Destinations inside the denied networks that relays may still reach: our sfu and media hosts
        (private and advertised addresses, so LAN media between our own hosts works) and the operator's list."""
        ours = {IPv4Network(a) for h in self.hosts_with("sfu", "media") for a in (h.private_address, h.advertised_address)}
        return tuple(sorted(ours | set(self.turn.allowed_peer_addresses)))

    def dns_name(self, host: Host) -> str:
        """The name clients use for a host (its certificate carries it): an inventory name that is already
        a DNS name, else the name inside sip_domain."""
        return host.name if "." in host.name else f"{host.name}.{self.sip_domain}"

    def hosts_with(self, *roles: str) -> list[Host]:
        return [h for h in self.hosts.values() if any(r in h.roles for r in roles)]

    def addresses_of(self, *roles: str) -> tuple[IPv4Address, ...]:
        return tuple(sorted({h.private_address for h in self.hosts_with(*roles)}))

    @property
    def max_calls(self) -> int:
        """Platform-wide cap on concurrent calls (R5)."""
        return self.registrar.max_calls or self.channels

    @property
    def database_host(self) -> Host:
        """The PostgreSQL host every service connects to (the first of the database group)."""
        return self.hosts_with("database")[0]

    def kamailio_db_connections(self) -> int:
        """Connections one registrar host opens: one per worker, plus timers and helpers."""
        return self.registrar.udp_workers + self.registrar.tcp_workers + 10

    @cached_property
    def roles_used(self) -> frozenset[str]:
        return frozenset(r for h in self.hosts.values() for r in h.roles)

    def listeners(self, host: Host) -> list[Listener]:
        """Every port or range a host serves, with who may reach it: the firewall opens exactly these."""
        out = [Listener("ssh", "tcp", PortRange(self.system.ssh_port, self.system.ssh_port), "system.ssh_port")]

        def add(service: str, protocols: str, ports: PortRange | int, key: str, sources=None) -> None:
            ports = ports if isinstance(ports, PortRange) else PortRange(ports, ports)
            for protocol in protocols.split("+"):
                out.append(Listener(service, protocol, ports, key, sources))

        roles = host.roles
        if "database" in roles:
            add("postgresql", "tcp", self.database.port, "database.port", self.addresses_of("registrar", "links", "portal"))
        if "registrar" in roles:
            add("sip", "udp+tcp", self.registrar.sip_port, "registrar.sip_port")
            add("sip-tls", "tcp", self.registrar.sip_tls_port, "registrar.sip_tls_port")
        if "media" in roles:
            add("rtpengine control", "udp", self.media.control_port, "media.control_port", self.addresses_of("registrar"))
            add("rtpengine RTP", "udp", self.media_rtp_ports, "media.rtp_port_min")
        if "turn" in roles:
            add("turn", "udp+tcp", self.turn.listening_port, "turn.listening_port")
            add("turn-tls", "udp+tcp", self.turn.tls_listening_port, "turn.tls_listening_port")
            add("turn relay", "udp", self.turn_relay_ports, "turn.relay_port_min")
        if "sfu" in roles:
            edges = self.addresses_of("edge")
            add("janus http", "tcp", self.sfu.http_port, "sfu.http_port", edges)
            add("janus websocket", "tcp", self.sfu.websocket_port, "sfu.websocket_port", edges)
            add("janus admin", "tcp", self.sfu.admin_port, "sfu.admin_port", ())  # loopback only: no opening
            add("janus RTP", "udp", self.sfu_rtp_ports, "sfu.rtp_port_min")
        if "links" in roles:
            add("links", "tcp", self.links.port, "links.port", self.addresses_of("edge"))
        if "portal" in roles:
            add("portal", "tcp", self.portal.port, "portal.port", self.addresses_of("edge"))
        if "edge" in roles:
            add("http", "tcp", self.edge.http_port, "edge.http_port")
            add("https", "tcp", self.edge.https_port, "edge.https_port")
        return out

    def service_accounts(self, host: Host) -> list[str]:
        return [account for role, account in SERVICE_ACCOUNTS.items() if role in host.roles]

    def sysctls(self, host: Host) -> dict[str, int]:
        """Kernel settings for a host, sized from channels (not applied inside containers)."""
        out = {"fs.file-max": 1_048_576, "net.core.somaxconn": 4096}
        if set(host.roles) & {"registrar", "media", "turn", "sfu"}:
            buffer = max(4 << 20, self.channels * (64 << 10))  # 64 KiB of socket buffer per channel
            out |= {"net.core.rmem_max": buffer, "net.core.wmem_max": buffer,
                    "net.core.netdev_max_backlog": max(1000, self.channels * 20)}
        return out

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
            *self._database_problems(),
        ]

    def _database_problems(self) -> list[Problem]:
        out = []
        databases = self.hosts_with("database")
        if len(databases) > 1:
            out.append(Problem("groups.database", [h.name for h in databases],
                               "more than one database host: rtcstack does not set up PostgreSQL replication",
                               "keep one host in the 'database' group (run a standby outside rtcstack if you need one)"))
        registrars = self.hosts_with("registrar")
        if databases and registrars:
            needed = len(registrars) * self.kamailio_db_connections() + 40
            if needed > self.database.max_connections:
                out.append(Problem("database.max_connections", self.database.max_connections,
                                   f"is too low: {len(registrars)} registrar host(s) open about {needed - 40} connections "
                                   "and the other services need about 40",
                                   f"set database.max_connections to {needed} or more, or lower registrar.udp_workers"))
        return out

    def _role_problems(self) -> list[Problem]:
        out = []
        for role in sorted(self.roles_used):
            users = ", ".join(h.name for h in self.hosts_with(role))
            for needed in ROLE_NEEDS.get(role, ()):
                if needed not in self.roles_used:
                    out.append(Problem(
                        f"groups.{needed}", [], f"role {role} (on {users}) needs a {needed} host and there is none",
                        f"add a host to the '{needed}' group of the inventory"))
            if role == "edge" and not self.roles_used & set(EDGE_UPSTREAMS):
                out.append(Problem(
                    "groups.edge", users, "the edge has nothing to proxy: no sfu, links or portal host",
                    "add hosts to those groups, or remove the edge group"))
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
        return out

    def _port_problems(self) -> list[Problem]:
        out = []
        for key, ports in (("media.rtp_port_min", self.media_rtp_ports), ("turn.relay_port_min", self.turn_relay_ports),
                           ("sfu.rtp_port_min", self.sfu_rtp_ports)):
            if ports.end > 65535:
                out.append(Problem(key, ports.start, f"the range sized from channels={self.channels} ends at {ports.end}, past 65535",
                                   f"set {key} to {65535 - ports.size + 1} or lower"))
        for host in self.hosts.values():
            listeners = self.listeners(host)
            for i, a in enumerate(listeners):
                for b in listeners[i + 1:]:
                    if a.protocol == b.protocol and a.ports.overlaps(b.ports):
                        out.append(Problem(
                            b.key, b.ports.start,
                            f"{b.describe()} overlap {a.describe()} ({a.key}) on host {host.name}",
                            f"move one of them: change {b.key} or {a.key}"))
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
