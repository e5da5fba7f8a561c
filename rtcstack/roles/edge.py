"""edge role: nginx from Debian terminating TLS (PKI certificate) and proxying the paths the other roles
contribute (EdgeRoute) to their hosts. nginx.conf is staged in /etc/rtcstack/nginx and checked with
`nginx -t` before it is installed; nginx reloads (never restarts) when it or the certificate changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field, model_validator

from ..config.settings import Int, Network, Port, Settings
from ..templating import ConfigFile
from .base import Role, listen

if TYPE_CHECKING:
    from ..site.deployment import Deployment, Host

NGINX_SERVICE = "nginx"
#: nginx.conf is staged here and checked with `nginx -t` before it replaces /etc/nginx/nginx.conf.
NGINX_STAGED = "/etc/rtcstack/nginx/nginx.conf"
NGINX_CONF = "/etc/nginx/nginx.conf"
#: What the edge serves itself under /.well-known/ (operators put app-link association files here).
WELL_KNOWN = "/var/lib/rtcstack/edge/well-known"


class EdgeSettings(Settings):
    """nginx, TLS termination and reverse proxy."""

    http_port: Port = Field(80, description="Plain HTTP port; it only redirects to HTTPS.")
    https_port: Port = Field(443, description="HTTPS port.")
    hsts_max_age_seconds: Int = Field(
        31536000, ge=0, le=63072000, description="Strict-Transport-Security max-age sent on HTTPS; 0 sends none.")
    janus_path: str = Field("/janus", pattern=r"^/[a-z0-9_-]+$", description="Path of the proxied Janus HTTP API.")
    janus_websocket_path: str = Field(
        "/janus-ws", pattern=r"^/[a-z0-9_-]+$", description="Path of the proxied Janus WebSocket API.")
    workers: Int | None = Field(None, ge=1, le=64, description="nginx worker processes; unset: one per CPU.")
    rate_limit_exempt: tuple[Network, ...] = Field(
        (), description="Client networks the per-address rate limits of the routes (invite pages, redeem) do not "
                        "apply to: load generators and monitoring. Empty: everyone is limited.")

    @model_validator(mode="after")
    def _distinct_paths(self) -> EdgeSettings:
        if self.janus_path == self.janus_websocket_path:
            raise ValueError("janus_path and janus_websocket_path must differ")
        return self


def listeners(deployment: Deployment, host: Host):
    e = deployment.edge
    return [*listen("http", "tcp", e.http_port, "edge.http_port"),
            *listen("https", "tcp", e.https_port, "edge.https_port")]


def upstreams(deployment: Deployment) -> list[dict]:
    """Every route the proxied roles contribute, with the servers (private address:port) behind it."""
    out = []
    for role, route in deployment.edge_routes():
        hosts = deployment.hosts_with(role)
        if route.host_index is not None:
            hosts = hosts[route.host_index:route.host_index + 1]
        servers = [f"{h.private_address}:{route.port}" for h in hosts]
        out.append({"route": route, "servers": servers})
    return out


def nginx_context(deployment: Deployment, host: Host) -> dict:
    e = deployment.edge
    return {
        "host": host.name,
        "channels": deployment.channels,
        "workers": e.workers or "auto",
        "worker_connections": max(1024, deployment.channels * 8),
        "server_names": " ".join(dict.fromkeys([deployment.sip_domain, deployment.dns_name(host), host.name,
                                                str(host.advertised_address)])),
        "http_port": e.http_port,
        "https_port": e.https_port,
        "hsts": e.hsts_max_age_seconds,
        "upstreams": upstreams(deployment),
        "rate_limit_exempt": [str(n) for n in e.rate_limit_exempt],
        "well_known": WELL_KNOWN,
    }


def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    return {"nginx": ConfigFile(NGINX_STAGED, "edge/etc/nginx/nginx.conf.j2", nginx_context(deployment, host),
                                installed=NGINX_CONF)}


ROLE = Role(
    name="edge", settings=EdgeSettings, units=(NGINX_SERVICE,), fronts_proxied=True, serves_sip_domain=True,
    listeners=listeners, config_files=config_files,
)
