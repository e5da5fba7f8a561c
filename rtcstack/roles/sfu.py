"""sfu role: Janus, the WebRTC SFU behind conference links, with the video-room and text-room plugins only;
HTTP and WebSocket APIs on the private address (edge hosts only), the admin API on loopback; every unused
plugin, transport and event handler disabled (M2, L6)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ..config.ports import PortRange
from ..config.settings import Int, Port, RangeStart, Settings, per_channel, range_start
from ..protocols.janus import room_path
from ..templating import ConfigFile
from .base import EdgeRoute, Role, listen, sized_range

if TYPE_CHECKING:
    from ..site.deployment import Deployment, Host

JANUS_SERVICE = "janus"
JANUS_USER = "rtcstack-janus"


class SfuSettings(Settings):
    """Janus, the WebRTC SFU behind conference links."""

    http_port: Port = Field(8088, description="Janus HTTP API port (private address, edge hosts only).")
    websocket_port: Port = Field(8188, description="Janus WebSocket port (private address, edge hosts only).")
    admin_port: Port = Field(7088, description="Janus admin API port, on loopback only (HTTP, admin secret).")
    rtp_port_min: RangeStart = range_start(20000, "First port of Janus' RTP range; its size derives from channels.")
    ports_per_channel: Int = per_channel(2, "RTP ports one channel uses (bundled, rtcp-mux: one per peer connection).")
    plain_rtp_port_min: RangeStart = range_start(
        24000, "First port of the plain-RTP range where the audio bridge and the streaming plugin take the video "
               "phone gateway's RTP (L5); its size derives from channels.")
    plain_ports_per_channel: Int = per_channel(2, "Plain-RTP ports one gateway call uses (its audio, its video).")
    session_timeout_seconds: Int = Field(
        60, ge=10, le=3600, description="A Janus session without a request or keepalive for this long is destroyed.")
    debug_level: Int = Field(4, ge=0, le=7, description="Janus log level (0 none, 4 info, 7 huge).")


def rtp_ports(deployment: Deployment) -> PortRange:
    """Janus' RTP range, sized from channels."""
    return sized_range(deployment, deployment.sfu.rtp_port_min, deployment.sfu.ports_per_channel)


def plain_rtp_ports(deployment: Deployment) -> PortRange:
    """The audio bridge's and streaming plugin's plain-RTP range (the gateway's calls), sized from channels."""
    return sized_range(deployment, deployment.sfu.plain_rtp_port_min, deployment.sfu.plain_ports_per_channel)


def listeners(deployment: Deployment, host: Host):
    s = deployment.sfu
    # the edge proxies browsers' requests; the links service manages rooms with the API secret
    edges = deployment.addresses_of(*deployment.roles_fronting(), "links")
    return [*listen("janus http", "tcp", s.http_port, "sfu.http_port", edges),
            *listen("janus websocket", "tcp", s.websocket_port, "sfu.websocket_port", edges),
            *listen("janus admin", "tcp", s.admin_port, "sfu.admin_port", ()),  # loopback only: no opening
            *listen("janus RTP", "udp", rtp_ports(deployment), "sfu.rtp_port_min"),
            # the conference gateway's plain RTP (the video phone's audio and video)
            *(listen("janus plain RTP", "udp", plain_rtp_ports(deployment), "sfu.plain_rtp_port_min",
                     deployment.addresses_of("gateway")) if deployment.hosts_with("gateway") else [])]


def edge_routes(deployment: Deployment) -> list[EdgeRoute]:
    """A Janus session lives on one SFU host: the same client address always reaches the same one. With several
    SFU hosts, each also has its own path (`/sfu/N/janus`): a conference page talks to the host of its room."""
    e, s = deployment.edge, deployment.sfu
    hosts = deployment.hosts_with("sfu")
    own = [EdgeRoute(f"janus_http_{i}", room_path(e.janus_path, i, len(hosts)), s.http_port, upstream_path="/janus",
                     keepalive=8, buffering=False, read_timeout_seconds=65, refused=("/info",), host_index=i,
                     comment=f"Janus HTTP API of {host.name} only (the rooms placed there).")
           for i, host in enumerate(hosts)] if len(hosts) > 1 else []
    return own + [
        EdgeRoute("janus_http", e.janus_path, s.http_port, upstream_path="/janus", sticky=True, keepalive=32,
                  buffering=False, read_timeout_seconds=65, refused=("/info",),
                  comment="Janus HTTP API; long polls hold a request up to 30 s. /info names the SFU's private "
                          "address and build: operators read it on the SFU host."),
        EdgeRoute("janus_websocket", e.janus_websocket_path, s.websocket_port, exact=True, websocket=True, sticky=True,
                  read_timeout_seconds=3600, send_timeout_seconds=3600,
                  comment="Janus WebSocket API (subprotocol janus-protocol)."),
    ]


#: What Debian's janus 1.1 ships, and the parts rtcstack uses; everything else is disabled, so nothing
#: unused loads (or logs start-up errors about a broker it cannot reach).
PLUGINS = ("audiobridge", "duktape", "echotest", "lua", "nosip", "recordplay", "sip", "streaming", "textroom",
           "videocall", "videoroom", "voicemail")
PLUGINS_USED = ("videoroom", "textroom", "audiobridge", "streaming", "echotest")
TRANSPORTS = ("http", "mqtt", "nanomsg", "pfunix", "rabbitmq", "websockets")
TRANSPORTS_USED = ("http", "websockets")
EVENT_HANDLERS = ("gelfevh", "mqttevh", "nanomsgevh", "rabbitmqevh", "sampleevh", "wsevh")
LOGGERS = ("jsonlog",)


def _disabled(names, used=()) -> str:
    return ",".join(f"libjanus_{n}.so" for n in names if n not in used)


def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    s = deployment.sfu
    private, advertised = str(host.private_address), str(host.advertised_address)
    rtp = rtp_ports(deployment)
    plain = plain_rtp_ports(deployment)
    room_key = deployment.secret("janus_room_key")

    def janus(name: str, context: dict) -> ConfigFile:
        return ConfigFile(f"/etc/janus/{name}", f"sfu/etc/janus/{name}.j2", {"host": host.name, **context},
                          mode="640", group=JANUS_USER)

    return {
        "janus": janus("janus.jcfg", {
            "server_name": deployment.dns_name(host),
            "debug_level": s.debug_level, "session_timeout": s.session_timeout_seconds,
            "api_secret": deployment.secret("janus_api_secret"),
            "admin_secret": deployment.secret("janus_admin_secret"),
            "token_secret": deployment.secret("janus_token_secret"),
            "rtp_min": rtp.start, "rtp_max": rtp.end, "channels": deployment.channels,
            "private": private, "nat_1_1": advertised if advertised != private else None,
            "disabled_plugins": _disabled(PLUGINS, PLUGINS_USED),
            "disabled_transports": _disabled(TRANSPORTS, TRANSPORTS_USED),
            "disabled_events": _disabled(EVENT_HANDLERS), "disabled_loggers": _disabled(LOGGERS)}),
        "http": janus("janus.transport.http.jcfg", {
            "private": private, "port": s.http_port, "admin_port": s.admin_port}),
        "websockets": janus("janus.transport.websockets.jcfg", {"private": private, "port": s.websocket_port}),
        "videoroom": janus("janus.plugin.videoroom.jcfg", {"admin_key": room_key}),
        "textroom": janus("janus.plugin.textroom.jcfg", {"admin_key": room_key}),
        "audiobridge": janus("janus.plugin.audiobridge.jcfg", {"admin_key": room_key, "private": private,
                                                              "rtp_min": plain.start, "rtp_max": plain.end}),
        "streaming": janus("janus.plugin.streaming.jcfg", {"admin_key": room_key, "rtp_min": plain.start,
                                                          "rtp_max": plain.end}),
        "echotest": janus("janus.plugin.echotest.jcfg", {}),
        "dropin": ConfigFile(f"/etc/systemd/system/{JANUS_SERVICE}.service.d/60-rtcstack.conf",
                             f"sfu/etc/systemd/system/{JANUS_SERVICE}.service.d/60-rtcstack.conf.j2",
                             {"user": JANUS_USER, "nofile": max(65536, rtp.size * 4)}),
    }


ROLE = Role(
    name="sfu", settings=SfuSettings, units=(JANUS_SERVICE,), needs=("turn", "edge"),
    secrets={"janus_api_secret": "Janus API secret",
             "janus_admin_secret": "Janus admin API secret",
             "janus_token_secret": "key that signs time-limited Janus API tokens for browsers",
             "janus_room_key": "Janus video-room and text-room admin key: creating a room needs it"},
    account=JANUS_USER, proxied=True, network_heavy=True,
    listeners=listeners, edge_routes=edge_routes, config_files=config_files, derived={"rtp_ports": rtp_ports, "plain_rtp_ports": plain_rtp_ports},
)
