"""gateway role: the conference gateway (L5), rtcstack's own service that brings a video phone into a
conference link's group call. It calls the phone through the registrar (Kamailio and rtpengine, like any
call: scope, channel limit, CDR) as the link's conference account, and relays the call's RTP to and from
the SFU's Janus (AudioBridge for audio, a Streaming mountpoint and VideoRoom rtp_forward for video).
Its control API is reachable from links hosts only; its RTP ports from media and SFU hosts only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ..config.settings import Int, Port, RangeStart, Settings, per_channel, range_start
from ..templating import ConfigFile
from .base import Role, listen, sized_range

if TYPE_CHECKING:
    from ..config.ports import PortRange
    from ..site.deployment import Deployment, Host

ACCOUNT = "rtcstack-gateway"
CONFIG = "/etc/rtcstack/gateway/service.json"


class GatewaySettings(Settings):
    """The conference gateway: video phones in conference links' group calls."""

    port: Port = Field(8083, description="HTTP port of the gateway's control API (private address, links hosts "
                                         "only).")
    rtp_port_min: RangeStart = range_start(
        26000, "First port of the gateway's RTP range (the phone's and Janus' sides of each call); its size "
               "derives from channels.")
    ports_per_channel: Int = per_channel(4, "RTP ports one gateway call uses (audio and video, towards the "
                                            "phone and towards Janus).")
    ring_seconds: Int = Field(45, ge=5, le=300, description="How long the video phone rings before the gateway "
                                                            "gives up.")
    max_calls: Int = Field(50, ge=1, le=1000, description="Video phone calls one gateway host carries at once.")


def rtp_ports(deployment: Deployment) -> PortRange:
    return sized_range(deployment, deployment.gateway.rtp_port_min, deployment.gateway.ports_per_channel)


def listeners(deployment: Deployment, host: Host):
    g = deployment.gateway
    return [*listen("gateway control", "tcp", g.port, "gateway.port", deployment.addresses_of("links")),
            *listen("gateway RTP", "udp", rtp_ports(deployment), "gateway.rtp_port_min",
                    deployment.addresses_of("media", "sfu"))]


def urls(deployment: Deployment) -> list[str]:
    """The control API of every gateway host (the links service calls the first that answers)."""
    return [f"http://{h.private_address}:{deployment.gateway.port}" for h in deployment.hosts_with("gateway")]


def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    from ..infra.wheelhouse import HOST_VENV

    g, ports = deployment.gateway, rtp_ports(deployment)
    registrar = deployment.hosts_with("registrar")[0]
    config = {
        "service": "gateway", "sip_domain": deployment.sip_domain, "address": str(host.private_address),
        "rtp_ports": [ports.start, ports.end],
        "registrar": [str(registrar.private_address), deployment.registrar.sip_port],
        "janus_urls": [f"http://{h.private_address}:{deployment.sfu.http_port}/janus"
                       for h in deployment.hosts_with("sfu")],
        "janus_api_secret": deployment.secret("janus_api_secret"),
        "janus_room_key": deployment.secret("janus_room_key"),
        "signing_key": deployment.secret("links_signing_key"),
        "token": deployment.secret("gateway_token"),
        "ring_seconds": g.ring_seconds, "max_calls": g.max_calls,
    }
    links = deployment.addresses_of("links")
    unit = {"service": "gateway", "host": host.name, "account": ACCOUNT, "venv": HOST_VENV,
            "factory": "rtcstack.gateway.service:create", "workers": 1, "config_path": CONFIG,
            "address": str(host.private_address), "port": g.port,
            "edges": ",".join(str(a) for a in links) or "127.0.0.1"}
    return {
        "unit": ConfigFile(f"/etc/systemd/system/{ACCOUNT}.service", "service/etc/systemd/system/UNIT.service.j2",
                           unit),
        "config": ConfigFile(CONFIG, "service/etc/rtcstack/SERVICE/service.json.j2", {"config": config, "host": host.name},
                             mode="640", group=ACCOUNT),
    }


ROLE = Role(name="gateway", settings=GatewaySettings, needs=("registrar", "sfu", "links"), units=(ACCOUNT,),
            secrets={"gateway_token": "bearer token the links service presents to the conference gateway"},
            account=ACCOUNT, network_heavy=True, listeners=listeners, config_files=config_files,
            derived={"rtp_ports": rtp_ports})
