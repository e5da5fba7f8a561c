"""The files the media role renders: rtpengine in userspace, sized from channels (M1, M4)."""

from __future__ import annotations

from ..config import Deployment, Host
from .base import ConfigFile

RTPENGINE_SERVICE = "rtpengine-daemon"


def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    ports = deployment.media_rtp_ports
    return {
        "rtpengine": ConfigFile("/etc/rtpengine/rtpengine.conf", "media/etc/rtpengine/rtpengine.conf.j2", {
            "host": host.name, "channels": deployment.channels, "private": str(host.private_address),
            "advertised": str(host.advertised_address), "control_port": deployment.media.control_port,
            "port_min": ports.start, "port_max": ports.end, "threads": deployment.media.threads,
            "max_call_seconds": deployment.registrar.max_call_seconds}),
        "defaults": ConfigFile("/etc/default/rtpengine-daemon", "media/etc/default/rtpengine-daemon.j2", {}),
        "dropin": ConfigFile(f"/etc/systemd/system/{RTPENGINE_SERVICE}.service.d/60-rtcstack.conf",
                             f"media/etc/systemd/system/{RTPENGINE_SERVICE}.service.d/60-rtcstack.conf.j2",
                             {"nofile": max(65536, ports.size * 4)}),
    }
