"""The files the turn role renders: coturn with REST-API credentials, sized from channels (M3)."""

from __future__ import annotations

from ipaddress import IPv4Network

from ..config import Deployment, Host
from .base import ConfigFile

COTURN_SERVICE = "coturn"
#: The account Debian's coturn runs as.
COTURN_USER = "turnserver"


def peer_range(network: IPv4Network) -> str:
    """coturn's `ip[-ip]` form of a network."""
    first, last = network.network_address, network.broadcast_address
    return str(first) if first == last else f"{first}-{last}"


def coturn_context(deployment: Deployment, host: Host) -> dict:
    t = deployment.turn
    relay = deployment.turn_relay_ports
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
        "total_quota": deployment.turn_total_quota,
        "max_bps": t.max_bps,
        "denied": [peer_range(n) for n in t.denied_peer_networks],
        "allowed": [peer_range(n) for n in deployment.turn_allowed_peers],
    }


def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    return {
        "turnserver": ConfigFile("/etc/turnserver.conf", "turn/etc/turnserver.conf.j2",
                                 coturn_context(deployment, host), mode="640", group=COTURN_USER),
        "dropin": ConfigFile(f"/etc/systemd/system/{COTURN_SERVICE}.service.d/60-rtcstack.conf",
                             f"turn/etc/systemd/system/{COTURN_SERVICE}.service.d/60-rtcstack.conf.j2",
                             {"nofile": max(65536, deployment.turn_relay_ports.size * 4)}),
    }
