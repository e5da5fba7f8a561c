"""The files the registrar role renders: kamailio.cfg from the typed model, TLS, the database URL, limits."""

from __future__ import annotations

from ..config import Deployment, Host
from .base import ConfigFile

#: Where the registrar's files are staged, then checked with `kamailio -c` before they reach /etc/kamailio.
KAMAILIO_STAGED = "/etc/rtcstack/kamailio"
KAMAILIO_PACKAGES = ["kamailio", "kamailio-postgres-modules", "kamailio-tls-modules"]
#: Files staged and installed together (relative paths inside kamailio.cfg resolve to the same directory).
KAMAILIO_FILES = ("kamailio.cfg", "tls.cfg", "rtcstack-secrets.cfg")


def trusted_networks(deployment: Deployment) -> list[str]:
    """Sources never banned for flooding: our own hosts and the operator's exempt networks."""
    return [f"{h.private_address}/32" for h in deployment.hosts.values()] + [
        str(n) for n in deployment.registrar.flood_exempt]


def kamailio_context(deployment: Deployment, host: Host) -> dict:
    r = deployment.registrar
    return {
        "host": host.name,
        "sip_domain": deployment.sip_domain,
        "private": str(host.private_address),
        "advertised": str(host.advertised_address),
        "sip_port": r.sip_port,
        "sip_tls_port": r.sip_tls_port,
        "udp_workers": r.udp_workers,
        "tcp_workers": r.tcp_workers,
        "keepalive_interval": r.keepalive_interval_seconds,
        "min_expires": r.min_expires,
        "max_expires": r.max_expires,
        "max_call_seconds": r.max_call_seconds,
        "max_calls": deployment.max_calls,
        "rtpengine_sockets": " ".join(f"udp:{h.private_address}:{deployment.media.control_port}"
                                      for h in deployment.hosts_with("media")),
        "flood_per_unit": r.flood_requests_per_second * 2,
        "ban_seconds": r.ban_seconds,
        "trusted_networks": ",".join(trusted_networks(deployment)),
        "emergency_regex": "^(" + "|".join(r.emergency_numbers) + ")$",
        "country_code": r.country_code,
        "national_prefix": r.national_prefix,
        "national_number_length": r.national_number_length,
    }


def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    db = deployment.database_host
    staged = {
        "kamailio.cfg": ConfigFile(f"{KAMAILIO_STAGED}/kamailio.cfg", "registrar/etc/kamailio/kamailio.cfg.j2",
                                   kamailio_context(deployment, host), mode="640", group="kamailio"),
        "tls.cfg": ConfigFile(f"{KAMAILIO_STAGED}/tls.cfg", "registrar/etc/kamailio/tls.cfg.j2", {},
                              mode="640", group="kamailio"),
        "rtcstack-secrets.cfg": ConfigFile(
            f"{KAMAILIO_STAGED}/rtcstack-secrets.cfg", "registrar/etc/kamailio/rtcstack-secrets.cfg.j2",
            {"user": "kamailio", "password": deployment.secret("database_registrar_password"),
             "address": db.private_address, "port": deployment.database.port, "database": deployment.database.name},
            mode="640", group="kamailio"),
    }
    channels = deployment.channels
    return staged | {
        "defaults": ConfigFile("/etc/default/kamailio", "registrar/etc/default/kamailio.j2",
                               {"channels": channels, "shm_mb": 64 + channels // 2, "pkg_mb": 16}),
        "dropin": ConfigFile("/etc/systemd/system/kamailio.service.d/60-rtcstack.conf",
                             "registrar/etc/systemd/system/kamailio.service.d/60-rtcstack.conf.j2",
                             {"nofile": max(65536, channels * 64)}),
    }
