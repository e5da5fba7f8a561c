"""Settings models, one per role plus the deployment-wide ones; every default is defined here once."""

from __future__ import annotations

import re
from functools import cache
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Port = Annotated[int, Field(ge=1, le=65535)]
#: Ports below this are never given to a port range (well-known services live there).
RANGE_FLOOR = 1024

LAB_SPACE = IPv4Network("198.18.0.0/15")


class Settings(BaseModel):
    """Base for every settings model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- roles -------------------------------------------------------------------------------------


class DatabaseSettings(Settings):
    """PostgreSQL 15 on the database hosts."""

    port: Port = Field(5432, description="PostgreSQL TCP port on the private address.")
    name: str = Field("rtcstack", pattern=r"^[a-z][a-z0-9_]{0,62}$", description="Name of the database that holds every rtcstack table.")
    max_connections: int = Field(200, ge=20, le=5000, description="PostgreSQL max_connections (each Kamailio worker holds one).")


class RegistrarSettings(Settings):
    """Kamailio 5.6, the SIP registrar and proxy."""

    sip_port: Port = Field(5060, description="SIP port for UDP and TCP.")
    sip_tls_port: Port = Field(5061, description="SIP over TLS port.")
    udp_workers: int = Field(8, ge=1, le=64, description="Kamailio UDP worker processes per listener.")
    tcp_workers: int = Field(4, ge=1, le=64, description="Kamailio TCP/TLS worker processes.")
    min_expires: int = Field(60, ge=10, le=3600, description="Shortest registration Kamailio accepts (seconds).")
    max_expires: int = Field(3600, ge=60, le=86400, description="Longest registration Kamailio grants (seconds).")
    keepalive_interval_seconds: int = Field(
        20, ge=5, le=600,
        description="How often Kamailio sends an OPTIONS keepalive to every registered contact (R2); the same usrloc "
                    "timer writes registrations back to PostgreSQL (and at shutdown).")
    lamp_good_rtt_ms: int = Field(
        150, ge=1, le=10000, description="Keepalive round-trip time under which an account's lamp is green (R2).")
    lamp_severe_rtt_ms: int = Field(
        600, ge=1, le=60000, description="Keepalive round-trip time from which the lamp is red instead of yellow (R2).")
    max_calls: int | None = Field(
        None, ge=1, le=100000, description="Platform-wide cap on concurrent calls; unset: the deployment's channels.")
    max_call_seconds: int = Field(
        14400, ge=60, le=86400, description="A call still up after this long is ended by the registrar (dialog timeout).")
    country_code: str = Field("48", pattern=r"^[1-9][0-9]{0,2}$", description="Country code national numbers belong to (E.164, R7).")
    national_prefix: str = Field(
        "", pattern=r"^[0-9]?$", description="Trunk prefix before national numbers (empty in Poland, 0 in the UK).")
    national_number_length: int = Field(
        9, ge=4, le=14, description="Digits in a national number: area code plus subscriber number (R7).")
    emergency_numbers: tuple[str, ...] = Field(
        ("112", "997", "998", "999", "911"), description="Numbers refused with an explicit reason: no emergency calls (R15).")
    flood_requests_per_second: int = Field(
        200, ge=5, le=100000, description="Requests per second from one source address above which it is blocked (R13).")
    ban_seconds: int = Field(300, ge=10, le=86400, description="How long a flooding source stays blocked (R13).")
    flood_exempt: tuple[IPv4Network, ...] = Field(
        (), description="Networks never blocked for flooding (our own hosts always are); load generators go here.")

    @field_validator("emergency_numbers")
    @classmethod
    def _digits(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for number in value:
            if not re.fullmatch(r"[0-9]{2,6}", number):
                raise ValueError(f"{number!r} is not a short number of 2 to 6 digits")
        return value

    @model_validator(mode="after")
    def _orders(self) -> RegistrarSettings:
        if self.min_expires > self.max_expires:
            raise ValueError("min_expires must not exceed max_expires")
        if self.lamp_good_rtt_ms >= self.lamp_severe_rtt_ms:
            raise ValueError("lamp_good_rtt_ms must be below lamp_severe_rtt_ms")
        return self


class MediaSettings(Settings):
    """rtpengine, the RTP relay that anchors every SIP call."""

    control_port: Port = Field(
        2223, description="rtpengine NG control port (UDP, private address, registrar hosts only)."
    )
    rtp_port_min: Port = Field(
        30000, ge=RANGE_FLOOR, description="First port of the RTP relay range; its size derives from channels."
    )
    ports_per_channel: int = Field(
        4, ge=2, le=16, description="RTP ports one channel uses (two call legs, RTP and RTCP each)."
    )
    threads: int = Field(4, ge=1, le=64, description="rtpengine worker threads (userspace forwarding).")


#: Destinations a TURN relay never reaches unless the model allows them: this network, loopback, the
#: private, shared, link-local, benchmarking (the labs) and multicast/reserved ranges.
DENIED_PEER_NETWORKS = tuple(IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/3"))


class TurnSettings(Settings):
    """coturn, STUN/TURN for browsers and apps."""

    listening_port: Port = Field(3478, description="STUN/TURN port for UDP and TCP.")
    tls_listening_port: Port = Field(5349, description="TURN over TLS port.")
    relay_port_min: Port = Field(
        49152, ge=RANGE_FLOOR, description="First port of the relay range; its size derives from channels."
    )
    allocations_per_channel: int = Field(
        2, ge=1, le=16, description="TURN allocations (relay ports) one channel uses: one per browser peer."
    )
    credential_lifetime_seconds: int = Field(
        43200, ge=60, le=7 * 86400,
        description="How long REST-API TURN credentials handed to clients stay valid (the username's expiry).")
    user_quota: int = Field(
        10, ge=1, le=1000, description="Concurrent allocations one credential (one browser session) may hold.")
    total_quota: int | None = Field(
        None, ge=1, le=1000000, description="Concurrent allocations per TURN host; unset: the relay range's size.")
    max_bps: int = Field(
        0, ge=0, description="Bandwidth cap per allocation in bytes per second; 0: no cap.")
    denied_peer_networks: tuple[IPv4Network, ...] = Field(
        DENIED_PEER_NETWORKS,
        description="Networks relays may not reach (loopback, private, lab ranges), except allowed_peer_addresses "
                    "and our own sfu and media hosts.")
    allowed_peer_addresses: tuple[IPv4Network, ...] = Field(
        (), description="Addresses inside denied_peer_networks that relays may still reach, besides the private "
                        "and advertised addresses of the sfu and media hosts (allowed always).")


class SfuSettings(Settings):
    """Janus, the WebRTC SFU behind conference links."""

    http_port: Port = Field(8088, description="Janus HTTP API port (private address, edge hosts only).")
    websocket_port: Port = Field(8188, description="Janus WebSocket port (private address, edge hosts only).")
    admin_port: Port = Field(7088, description="Janus admin API port, on loopback only (HTTP, admin secret).")
    rtp_port_min: Port = Field(
        20000, ge=RANGE_FLOOR, description="First port of Janus' RTP range; its size derives from channels."
    )
    ports_per_channel: int = Field(
        2, ge=1, le=16, description="RTP ports one channel uses (bundled, rtcp-mux: one per peer connection)."
    )
    session_timeout_seconds: int = Field(
        60, ge=10, le=3600, description="A Janus session without a request or keepalive for this long is destroyed.")
    debug_level: int = Field(4, ge=0, le=7, description="Janus log level (0 none, 4 info, 7 huge).")


class LinksSettings(Settings):
    """rtcstack's conference-link service (invites, QR codes, browser pages)."""

    port: Port = Field(8081, description="HTTP port of the links service (private address, edge hosts only).")


class PortalSettings(Settings):
    """rtcstack's customer self-service portal."""

    port: Port = Field(8082, description="HTTP port of the portal (private address, edge hosts only).")


class EdgeSettings(Settings):
    """nginx, TLS termination and reverse proxy."""

    http_port: Port = Field(80, description="Plain HTTP port; it only redirects to HTTPS.")
    https_port: Port = Field(443, description="HTTPS port.")
    hsts_max_age_seconds: int = Field(
        31536000, ge=0, le=63072000, description="Strict-Transport-Security max-age sent on HTTPS; 0 sends none.")
    janus_path: str = Field("/janus", pattern=r"^/[a-z0-9_-]+$", description="Path of the proxied Janus HTTP API.")
    janus_websocket_path: str = Field(
        "/janus-ws", pattern=r"^/[a-z0-9_-]+$", description="Path of the proxied Janus WebSocket API.")
    workers: int | None = Field(None, ge=1, le=64, description="nginx worker processes; unset: one per CPU.")

    @model_validator(mode="after")
    def _distinct_paths(self) -> EdgeSettings:
        if self.janus_path == self.janus_websocket_path:
            raise ValueError("janus_path and janus_websocket_path must differ")
        return self


# --- deployment-wide ---------------------------------------------------------------------------


class Thresholds(Settings):
    """Service levels one load scenario must meet; a breach makes `rtcstack load` exit non-zero."""

    max_failure_ratio: float = Field(0.01, ge=0, le=1, description="Failed exchanges / all exchanges.")
    max_p95_setup_ms: float | None = Field(
        None, gt=0, description="95th percentile of the scenario's setup step (REGISTER, call setup, Allocate, "
                                "room join, HTTP request), in milliseconds; none: not checked.")
    max_loss_percent: float | None = Field(None, ge=0, le=100, description="Packets lost over all media streams.")
    max_jitter_p95_ms: float | None = Field(None, ge=0, description="95th percentile of the streams' RFC 3550 jitter.")
    min_mos: float | None = Field(
        None, ge=1, le=4.5, description="Lowest E-model MOS that 95 % of the media streams must reach.")


class LoadSettings(Settings):
    """`rtcstack load`: the scenarios' pacing and the service levels they gate on."""

    register_interval_seconds: float = Field(
        1.0, ge=0, le=3600, description="sip_register: seconds between one user's REGISTERs (0: back to back).")
    call_hold_seconds: float = Field(30.0, ge=1, le=3600, description="sip_calls: how long each call carries RTP.")
    call_pause_seconds: float = Field(1.0, ge=0, le=3600, description="sip_calls: pause between one user's calls.")
    turn_message_size: int = Field(172, ge=20, le=1400, description="turn_relay: bytes per relayed message "
                                   "(172 = an RTP packet of G.711 at 20 ms).")
    turn_interval_ms: int = Field(20, ge=1, le=10000, description="turn_relay: milliseconds between one user's messages.")
    turn_burst_messages: int = Field(250, ge=1, le=100000, description="turn_relay: messages per measured burst.")
    sfu_hold_seconds: float = Field(10.0, ge=0, le=3600, description="sfu_join: how long a participant stays in the room.")
    sip_register: Thresholds = Field(default_factory=lambda: Thresholds(max_p95_setup_ms=500),
                                     description="Service levels of sip_register (setup step: REGISTER).")
    sip_calls: Thresholds = Field(
        default_factory=lambda: Thresholds(max_p95_setup_ms=1000, max_loss_percent=0.5, max_jitter_p95_ms=20, min_mos=4.0),
        description="Service levels of sip_calls (setup step: INVITE to 200 OK).")
    turn_relay: Thresholds = Field(
        default_factory=lambda: Thresholds(max_p95_setup_ms=100, max_loss_percent=0.5, min_mos=4.0),
        description="Service levels of turn_relay (setup step: Allocate).")
    sfu_join: Thresholds = Field(default_factory=lambda: Thresholds(max_p95_setup_ms=2000),
                                 description="Service levels of sfu_join (setup step: joining the video room).")
    http: Thresholds = Field(default_factory=lambda: Thresholds(max_p95_setup_ms=500),
                             description="Service levels of http (setup step: every request).")


class AptSettings(Settings):
    """Package sources and apt behaviour on every host."""

    mirror: str = Field("http://deb.debian.org/debian", description="Debian mirror for bookworm and bookworm-updates.")
    security_mirror: str = Field(
        "http://deb.debian.org/debian-security", description="Debian security mirror for bookworm-security."
    )
    install_recommends: bool = Field(False, description="Whether apt installs recommended packages.")

    @field_validator("mirror", "security_mirror")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")


class LabSettings(Settings):
    """The Docker test lab that `rtcstack lab up` builds for this inventory."""

    network: str = Field(description="Name of the lab's Docker network.")
    subnet: IPv4Network = Field(description="The lab network's subnet, inside 198.18.0.0/15.")
    apt_cache_dir: Path = Field(
        Path("/var/cache/rtcstack/apt"), description="Directory on the machine that caches the lab's apt downloads."
    )

    @field_validator("subnet")
    @classmethod
    def _inside_lab_space(cls, value: IPv4Network) -> IPv4Network:
        if not value.subnet_of(LAB_SPACE):
            raise ValueError("must lie inside 198.18.0.0/15, the range set aside for test networks")
        return value


class HostSettings(Settings):
    """Per-host settings, given in the inventory next to each host."""

    private_address: IPv4Address = Field(description="Address on the private network between rtcstack hosts.")
    public_address: IPv4Address | None = Field(
        None, description="Address clients reach and SDP/ICE advertise; defaults to the private address."
    )
    tls_certificate_file: Path | None = Field(
        None, description="Existing certificate (PEM, chain) for this host; unset: issued by the lab CA."
    )
    tls_key_file: Path | None = Field(None, description="Private key (PEM) for tls_certificate_file.")

    @model_validator(mode="after")
    def _certificate_pair(self) -> HostSettings:
        if (self.tls_certificate_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_certificate_file and tls_key_file are given together or not at all")
        return self

    @property
    def advertised_address(self) -> IPv4Address:
        return self.public_address or self.private_address


_TZ_PATTERN = re.compile(r"^(UTC|[A-Z][A-Za-z_+-]*(/[A-Za-z0-9_+-]+){0,2})$")


class SystemSettings(Settings):
    """Base system settings every host gets from the base deploy."""

    timezone: str = Field("Etc/UTC", description="Time zone (a name from the tz database).")
    journald_max_use: str = Field("512M", description="Disk space journald may use (systemd size: 512M, 2G).")
    ssh_port: Port = Field(22, description="SSH port kept reachable by the firewall.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if not _TZ_PATTERN.match(value) or value not in _zones():
            raise ValueError("is not a time zone name from the tz database, such as Europe/Warsaw or Etc/UTC")
        return value

    @field_validator("journald_max_use")
    @classmethod
    def _size(cls, value: str) -> str:
        if not re.fullmatch(r"[1-9][0-9]*[KMG]", value):
            raise ValueError("must be a size such as 512M or 2G")
        return value


@cache
def _zones() -> frozenset[str]:
    from zoneinfo import available_timezones

    return frozenset(available_timezones())
