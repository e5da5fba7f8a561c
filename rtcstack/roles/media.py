"""media role: rtpengine, the RTP relay that anchors every SIP call, in userspace; control on the private
address (registrar hosts only, by the firewall), media on the advertised address, ports sized from
channels (M1, M4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ..config.ports import PortRange
from ..config.settings import Int, Port, RangeStart, Settings, per_channel, range_start
from ..templating import ConfigFile
from .base import Role, listen, sized_range

if TYPE_CHECKING:
    from ..site.deployment import Deployment, Host

RTPENGINE_SERVICE = "rtpengine-daemon"
#: Debian's jemalloc, which the unit preloads when media.jemalloc is on.
JEMALLOC_PACKAGE = "libjemalloc2"


def packages(deployment: Deployment) -> tuple[str, ...]:
    return ("rtpengine-daemon", *((JEMALLOC_PACKAGE,) if deployment.media.jemalloc else ()))


class MediaSettings(Settings):
    """rtpengine, the RTP relay that anchors every SIP call."""

    control_port: Port = Field(
        2223, description="rtpengine NG control port (UDP, private address, registrar hosts only)."
    )
    rtp_port_min: RangeStart = range_start(30000, "First port of the RTP relay range; its size derives from channels.")
    ports_per_channel: Int = per_channel(4, "RTP ports one channel uses (two call legs, RTP and RTCP each).", low=2)
    threads: Int = Field(4, ge=1, le=64, description="rtpengine worker threads (userspace forwarding).")
    jemalloc: bool = Field(
        True, description="rtpengine allocates through jemalloc (Debian's libjemalloc2, preloaded), glib's slices "
                          "included: its allocations took about half of its CPU on glibc's malloc, and the media "
                          "host's CPU per call fell by about a fifth in the lab's benchmark (issue 21). false: "
                          "glibc's malloc.")


def rtp_ports(deployment: Deployment) -> PortRange:
    """rtpengine's RTP range, sized from channels."""
    return sized_range(deployment, deployment.media.rtp_port_min, deployment.media.ports_per_channel)


def listeners(deployment: Deployment, host: Host):
    return [*listen("rtpengine control", "udp", deployment.media.control_port, "media.control_port",
                    deployment.addresses_of("registrar")),
            *listen("rtpengine RTP", "udp", rtp_ports(deployment), "media.rtp_port_min")]


def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    ports = rtp_ports(deployment)
    return {
        "rtpengine": ConfigFile("/etc/rtpengine/rtpengine.conf", "media/etc/rtpengine/rtpengine.conf.j2", {
            "host": host.name, "channels": deployment.channels, "private": str(host.private_address),
            "advertised": str(host.advertised_address), "control_port": deployment.media.control_port,
            "port_min": ports.start, "port_max": ports.end, "threads": deployment.media.threads,
            "max_call_seconds": deployment.registrar.max_call_seconds}),
        "defaults": ConfigFile("/etc/default/rtpengine-daemon", "media/etc/default/rtpengine-daemon.j2", {}),
        "dropin": ConfigFile(f"/etc/systemd/system/{RTPENGINE_SERVICE}.service.d/60-rtcstack.conf",
                             f"media/etc/systemd/system/{RTPENGINE_SERVICE}.service.d/60-rtcstack.conf.j2",
                             {"nofile": max(65536, ports.size * 4), "jemalloc": deployment.media.jemalloc}),
    }


ROLE = Role(
    name="media", settings=MediaSettings, units=(RTPENGINE_SERVICE,), needs=("registrar",), network_heavy=True, checkpoint="media ready",
    listeners=listeners, config_files=config_files, derived={"rtp_ports": rtp_ports},
)
