"""voicemail role: rtcstack's voicemail service (R14). Kamailio sends it the unanswered, busy and do-not-disturb
calls of accounts with voicemail on; it answers over SIP (UDP, from registrar hosts only), plays the greeting
(the mailbox's own, or a default that the deploy speaks with espeak-ng in Polish and English), records the
caller as G.711 (its RTP ports open to media hosts only: rtpengine anchors every call) and keeps the message
as a WAV file here and a row in the database. Its HTTP API (portal hosts only, a bearer token) serves a
message's audio to the portal and deletes messages."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from pydantic import Field

from ..config.settings import Int, Port, RangeStart, Settings, range_start
from ..templating import ConfigFile
from .base import DatabaseLogin, Role, database_url, listen

if TYPE_CHECKING:
    from ..config.ports import PortRange
    from ..site.deployment import Deployment, Host

ACCOUNT = "rtcstack-voicemail"
CONFIG = "/etc/rtcstack/voicemail/service.json"
#: Where the deploy writes the default greetings (read-only for the service).
GREETINGS_DIR = "/var/lib/rtcstack/voicemail-greetings"
#: The service's own state (messages), made by systemd for its account (StateDirectory=).
STATE_DIR = "/var/lib/rtcstack-voicemail"
#: espeak-ng voices of the portal's languages.
VOICES = {"pl": "pl", "en": "en-gb"}

GRANTS = (
    "GRANT SELECT ON sip_accounts, customers, portal_users, voicemail_greetings TO rtcstack_voicemail",
    "GRANT SELECT, INSERT, DELETE ON voicemail_messages TO rtcstack_voicemail",
    "GRANT USAGE ON SEQUENCE voicemail_messages_id_seq TO rtcstack_voicemail",
)


class VoicemailSettings(Settings):
    """The voicemail service: mailboxes of accounts with voicemail on (R14)."""

    sip_port: Port = Field(5070, description="UDP port of the voicemail's SIP agent (private address, registrar "
                                             "hosts only).")
    http_port: Port = Field(8085, description="HTTP port of its API (private address, portal hosts only).")
    rtp_port_min: RangeStart = range_start(
        28000, "First port of the voicemail's RTP range; its size derives from max_sessions.")
    max_sessions: Int = Field(50, ge=1, le=1000, description="Voicemail calls one host takes at once (more get 503 "
                                                             "and the caller a busy tone).")
    max_message_seconds: Int = Field(120, ge=10, le=600, description="Longest message; the recording stops there.")
    silence_seconds: float = Field(3.0, ge=1.0, le=30.0, description="Seconds of silence that end a message.")
    silence_dbfs: float = Field(-45.0, ge=-80.0, le=-10.0, description="Level (dBFS) under which audio counts as "
                                                                       "silence.")
    retention_days: Int = Field(30, ge=1, le=3650, description="Messages older than this are deleted.")
    max_messages: Int = Field(100, ge=1, le=10000, description="Messages kept per mailbox (the oldest go first).")
    greeting_pl: str = Field("Osoba, do której dzwonisz, nie może teraz odebrać. Zostaw wiadomość po sygnale.",
                             min_length=1, max_length=500, description="The default greeting in Polish (spoken by "
                                                                       "espeak-ng at deploy time).")
    greeting_en: str = Field("The person you are calling cannot answer right now. Please leave a message after "
                             "the tone.", min_length=1, max_length=500,
                             description="The default greeting in English.")


def rtp_ports(deployment: Deployment) -> PortRange:
    from ..config.ports import PortRange

    v = deployment.voicemail
    return PortRange.sized(v.rtp_port_min, v.max_sessions * 2 + 2)  # an even port per call (RTCP beside it)


def listeners(deployment: Deployment, host: Host):
    v = deployment.voicemail
    return [*listen("voicemail SIP", "udp", v.sip_port, "voicemail.sip_port", deployment.addresses_of("registrar")),
            *listen("voicemail RTP", "udp", rtp_ports(deployment), "voicemail.rtp_port_min",
                    deployment.addresses_of("media")),
            *listen("voicemail API", "tcp", v.http_port, "voicemail.http_port", deployment.addresses_of("portal"))]


def greeting_path(deployment: Deployment, language: str) -> str:
    """The default greeting's file: named by its text, so a new text is spoken anew (and an old one stays)."""
    text = getattr(deployment.voicemail, f"greeting_{language}")
    digest = hashlib.sha256(f"{VOICES[language]}\0{text}".encode()).hexdigest()[:12]
    return f"{GREETINGS_DIR}/greeting-{language}-{digest}.wav"


def sip_addresses(deployment: Deployment) -> list[str]:
    """host:port of every voicemail host, the set Kamailio's dispatcher sends voicemail calls to."""
    return [f"{h.private_address}:{deployment.voicemail.sip_port}" for h in deployment.hosts_with("voicemail")]


def api_urls(deployment: Deployment) -> dict[str, str]:
    """Each voicemail host's API by host name (a message is on the host that recorded it)."""
    return {h.name: f"http://{h.private_address}:{deployment.voicemail.http_port}"
            for h in deployment.hosts_with("voicemail")}


def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    from ..infra.wheelhouse import HOST_VENV

    v, ports = deployment.voicemail, rtp_ports(deployment)
    options = {
        "host": host.name, "address": str(host.private_address), "sip_port": v.sip_port,
        "rtp_ports": [ports.start, ports.end],
        "registrars": [str(a) for a in deployment.addresses_of("registrar")],
        "messages_dir": f"{STATE_DIR}/messages",
        "greetings": {language: greeting_path(deployment, language) for language in VOICES},
        "default_language": deployment.portal.default_language if deployment.hosts_with("portal") else "pl",
        "token": deployment.secret("voicemail_token"), "max_sessions": v.max_sessions,
        "max_message_seconds": v.max_message_seconds, "silence_seconds": v.silence_seconds,
        "silence_dbfs": v.silence_dbfs, "retention_days": v.retention_days, "max_messages": v.max_messages,
    }
    config = {"service": "voicemail", "sip_domain": deployment.sip_domain, "public_url": "",
              "database_url": database_url(deployment, "rtcstack_voicemail", "database_voicemail_password"),
              "options": options}
    unit = {"service": "voicemail", "host": host.name, "account": ACCOUNT, "venv": HOST_VENV,
            "factory": "rtcstack.voicemail.service:create", "workers": 1, "config_path": CONFIG,
            "address": str(host.private_address), "port": v.http_port,
            "edges": "127.0.0.1", "state_directory": STATE_DIR.rsplit("/", 1)[1]}
    return {
        "unit": ConfigFile(f"/etc/systemd/system/{ACCOUNT}.service", "service/etc/systemd/system/UNIT.service.j2",
                           unit),
        "config": ConfigFile(CONFIG, "service/etc/rtcstack/SERVICE/service.json.j2", {"config": config, "host": host.name},
                             mode="640", group=ACCOUNT),
    }


ROLE = Role(name="voicemail", settings=VoicemailSettings, needs=("database", "registrar", "media"), units=(ACCOUNT,),
            secrets={"voicemail_token": "bearer token the portal presents to the voicemail service",
                     "database_voicemail_password": "PostgreSQL password of the voicemail service's user"},
            account=ACCOUNT, network_heavy=True, listeners=listeners, config_files=config_files,
            database_login=DatabaseLogin("rtcstack_voicemail", "database_voicemail_password", grants=GRANTS,
                                         connections=lambda deployment: 10),
            derived={"rtp_ports": rtp_ports})
