"""turn role: coturn, STUN/TURN for browsers and apps, with time-limited REST-API credentials, on the
private address with the advertised one mapped onto it; relays sized from channels; certificate reloads
without dropping allocations (M3)."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import TYPE_CHECKING

from pydantic import Field

from ..config.ports import PortRange
from ..config.settings import Int, Network, Port, RangeStart, Settings, per_channel, range_start
from ..protocols.turn_rest import TurnCredentials, rest_credentials
from ..templating import ConfigFile
from .base import Role, listen, sized_range

if TYPE_CHECKING:
    from ..site.deployment import Deployment, Host

COTURN_SERVICE = "coturn"
#: The account Debian's coturn runs as.
COTURN_USER = "turnserver"

#: Destinations a TURN relay never reaches unless the model allows them: this network, loopback, the
#: private, shared, link-local, benchmarking (the labs) and multicast/reserved ranges.
DENIED_PEER_NETWORKS = tuple(IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/3"))


class TurnSettings(Settings):
    """coturn, STUN/TURN for browsers and apps."""

    listening_port: Port = Field(3478, description="STUN/TURN port for UDP and TCP.")
    tls_listening_port: Port = Field(5349, description="TURN over TLS port.")
    relay_port_min: RangeStart = range_start(49152, "First port of the relay range; its size derives from channels.")
    allocations_per_channel: Int = per_channel(
        2, "TURN allocations (relay ports) one channel uses: one per browser peer.")
    credential_lifetime_seconds: Int = Field(
        43200, ge=60, le=7 * 86400,
        description="How long REST-API TURN credentials handed to clients stay valid (the username's expiry).")
    user_quota: Int = Field(
        10, ge=1, le=1000, description="Concurrent allocations one credential (one browser session) may hold.")
    total_quota: Int | None = Field(
        None, ge=1, le=1000000, description="Concurrent allocations per TURN host; unset: the relay range's size.")
    max_bps: Int = Field(
        0, ge=0, description="Bandwidth cap per allocation in bytes per second; 0: no cap.")
    denied_peer_networks: tuple[Network, ...] = Field(
        DENIED_PEER_NETWORKS,
        description="Networks relays may not reach (loopback, private, lab ranges), except allowed_peer_addresses "
                    "and our own sfu and media hosts.")
    allowed_peer_addresses: tuple[Network, ...] = Field(
        (), description="Addresses inside denied_peer_networks that relays may still reach, besides the private "
                        "and advertised addresses of the sfu and media hosts (allowed always).")


def relay_ports(deployment: Deployment) -> PortRange:
    """coturn's relay range, sized from channels."""
    return sized_range(deployment, deployment.turn.relay_port_min, deployment.turn.allocations_per_channel)


def total_quota(deployment: Deployment) -> int:
    """Concurrent allocations one TURN host admits: the setting, or as many as the relay range holds."""
    return deployment.turn.total_quota or relay_ports(deployment).size


def allowed_peers(deployment: Deployment) -> tuple[IPv4Network, ...]:
    """Destinations inside the denied networks that relays may still reach: our sfu and media hosts
    (private and advertised addresses, so LAN media between our own hosts works), the load generators (the
    turn_relay scenario's echo peers) and the operator's list."""
    ours = {IPv4Network(a) for h in deployment.hosts_with("sfu", "media")
            for a in (h.private_address, h.advertised_address)}
    ours |= {IPv4Network(h.private_address) for h in deployment.hosts_with("loadgen")}
    return tuple(sorted(ours | set(deployment.turn.allowed_peer_addresses)))


def listeners(deployment: Deployment, host: Host):
    t = deployment.turn
    return [*listen("turn", "udp+tcp", t.listening_port, "turn.listening_port"),
            *listen("turn-tls", "udp+tcp", t.tls_listening_port, "turn.tls_listening_port"),
            *listen("turn relay", "udp", relay_ports(deployment), "turn.relay_port_min")]


def peer_range(network: IPv4Network) -> str:
    """coturn's `ip[-ip]` form of a network."""
    first, last = network.network_address, network.broadcast_address
    return str(first) if first == last else f"{first}-{last}"


def coturn_context(deployment: Deployment, host: Host) -> dict:
    t = deployment.turn
    relay = relay_ports(deployment)
    private, advertised = str(host.private_address), str(host.advertised_address)
    return {
        "host": host.name,
        "channels": deployment.channels,
        "realm": deployment.sip_domain,
        "server_name": deployment.dns_name(host),
        "private": private,
        "external": f"{advertised}/{private}" if advertised != private else None,
        "port": t.listening_port,
        "tls_port": t.tls_listening_port,
        "port_min": relay.start,
        "port_max": relay.end,
        "secret": deployment.secret("turn_shared_secret"),
        "user_quota": t.user_quota,
        "total_quota": total_quota(deployment),
        "max_bps": t.max_bps,
        "denied": [peer_range(n) for n in t.denied_peer_networks],
        "allowed": [peer_range(n) for n in allowed_peers(deployment)],
    }


def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    return {
        "turnserver": ConfigFile("/etc/turnserver.conf", "turn/etc/turnserver.conf.j2",
                                 coturn_context(deployment, host), mode="640", group=COTURN_USER),
        "dropin": ConfigFile(f"/etc/systemd/system/{COTURN_SERVICE}.service.d/60-rtcstack.conf",
                             f"turn/etc/systemd/system/{COTURN_SERVICE}.service.d/60-rtcstack.conf.j2",
                             {"nofile": max(65536, relay_ports(deployment).size * 4)}),
    }


def turn_uris(deployment: Deployment) -> tuple[str, ...]:
    """Every TURN URI of the deployment, by advertised address: UDP, TCP, then TLS (by host name, which
    the certificate carries) for clients behind firewalls that only pass TLS."""
    t = deployment.turn
    out = []
    for host in deployment.hosts_with("turn"):
        address = host.advertised_address
        out += [f"turn:{address}:{t.listening_port}?transport=udp", f"turn:{address}:{t.listening_port}?transport=tcp"]
    for host in deployment.hosts_with("turn"):
        out.append(f"turns:{deployment.dns_name(host)}:{t.tls_listening_port}?transport=tcp")
    return tuple(out)


def credentials_for(deployment: Deployment, user: str, now: float | None = None) -> TurnCredentials:
    """What the links service hands a browser: credentials valid on every TURN host of the deployment."""
    return rest_credentials(deployment.secret("turn_shared_secret"), user,
                            deployment.turn.credential_lifetime_seconds, now, turn_uris(deployment))


#: Allowed peer networks larger than this many addresses reach more than one peer: an acknowledged choice.
WIDE_PREFIX = 28


def weakened(deployment: Deployment) -> list[tuple[str, object, str]]:
    t, out = deployment.turn, []
    missing = [str(n) for n in DENIED_PEER_NETWORKS if not any(n.subnet_of(d) for d in t.denied_peer_networks)]
    if missing:
        out.append(("turn.denied_peer_networks", [str(n) for n in t.denied_peer_networks],
                    f"relays may reach {', '.join(missing)} (loopback, private or lab networks)"))
    wide = [str(n) for n in t.allowed_peer_addresses if n.prefixlen < WIDE_PREFIX]
    if wide:
        out.append(("turn.allowed_peer_addresses", wide, "relays may reach whole networks inside the denied ranges"))
    return out


ROLE = Role(
    name="turn", settings=TurnSettings, units=(COTURN_SERVICE,), needs=(),
    secrets={"turn_shared_secret": "coturn REST-API shared secret for time-limited credentials"},
    network_heavy=True, listeners=listeners, config_files=config_files, weakened=weakened,
    weakenable=("turn.denied_peer_networks", "turn.allowed_peer_addresses"),
    derived={"relay_ports": relay_ports, "total_quota": total_quota, "allowed_peers": allowed_peers},
)
