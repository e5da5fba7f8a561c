"""The files the edge role renders: nginx terminating TLS and proxying to the SFU hosts (M2)."""

from __future__ import annotations

from ..config import Deployment, Host
from .base import ConfigFile

NGINX_SERVICE = "nginx"
#: nginx.conf is staged here and checked with `nginx -t` before it replaces /etc/nginx/nginx.conf.
NGINX_STAGED = "/etc/rtcstack/nginx/nginx.conf"
NGINX_CONF = "/etc/nginx/nginx.conf"


def nginx_context(deployment: Deployment, host: Host) -> dict:
    e, s = deployment.edge, deployment.sfu
    sfu_hosts = deployment.hosts_with("sfu")
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
        "janus_path": e.janus_path,
        "janus_websocket_path": e.janus_websocket_path,
        "janus_http": [f"{h.private_address}:{s.http_port}" for h in sfu_hosts],
        "janus_websocket": [f"{h.private_address}:{s.websocket_port}" for h in sfu_hosts],
    }


def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    return {"nginx": ConfigFile(NGINX_STAGED, "edge/etc/nginx/nginx.conf.j2", nginx_context(deployment, host))}
