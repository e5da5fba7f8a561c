"""The files the sfu role renders: Janus with the video-room and text-room plugins only (M2, L6)."""

from __future__ import annotations

from ..config import Deployment, Host
from ..config.deployment import SERVICE_ACCOUNTS
from .base import ConfigFile

JANUS_SERVICE = "janus"
JANUS_USER = SERVICE_ACCOUNTS["sfu"]
#: What Debian's janus 1.1 ships, and the parts rtcstack uses; everything else is disabled, so nothing
#: unused loads (or logs start-up errors about a broker it cannot reach).
PLUGINS = ("audiobridge", "duktape", "echotest", "lua", "nosip", "recordplay", "sip", "streaming", "textroom",
           "videocall", "videoroom", "voicemail")
PLUGINS_USED = ("videoroom", "textroom")
TRANSPORTS = ("http", "mqtt", "nanomsg", "pfunix", "rabbitmq", "websockets")
TRANSPORTS_USED = ("http", "websockets")
EVENT_HANDLERS = ("gelfevh", "mqttevh", "nanomsgevh", "rabbitmqevh", "sampleevh", "wsevh")
LOGGERS = ("jsonlog",)


def _disabled(names, used=()) -> str:
    return ",".join(f"libjanus_{n}.so" for n in names if n not in used)


def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    s = deployment.sfu
    private, advertised = str(host.private_address), str(host.advertised_address)
    rtp = deployment.sfu_rtp_ports
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
        "dropin": ConfigFile(f"/etc/systemd/system/{JANUS_SERVICE}.service.d/60-rtcstack.conf",
                             f"sfu/etc/systemd/system/{JANUS_SERVICE}.service.d/60-rtcstack.conf.j2",
                             {"user": JANUS_USER, "nofile": max(65536, rtp.size * 4)}),
    }
