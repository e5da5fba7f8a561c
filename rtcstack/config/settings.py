"""The deployment-wide settings models and the base every settings model shares; each role's own model
lives in its role module (rtcstack/roles/). Every default is defined once, in its model."""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict, field_validator, model_validator

#: Numbers are numbers: `True`, "300" or 300.0 given for an int is an error, not a coerced value.
Int = Annotated[int, Strict()]
#: A float setting takes a float or an int, never a bool or a string.
Float = Annotated[float, Strict()]
Port = Annotated[int, Strict(), Field(ge=1, le=65535)]


def _text(value):
    """Addresses and networks are written as text: a number (or True, which is 1) is not `0.0.0.1`."""
    if isinstance(value, (bool, int, float)):
        raise ValueError("write the address as text, such as \"10.0.0.12\" or \"10.0.0.0/24\"")
    return value


#: An IPv4 address or network given as text (pydantic alone would read the number 1 as 0.0.0.1).
Address = Annotated[IPv4Address, BeforeValidator(_text)]
Network = Annotated[IPv4Network, BeforeValidator(_text)]
#: Ports below this are never given to a port range (well-known services live there).
RANGE_FLOOR = 1024


#: The first port of a range whose size derives from channels: never below RANGE_FLOOR.
RangeStart = Annotated[int, Strict(), Field(ge=RANGE_FLOOR, le=65535)]


def range_start(default: int, description: str):
    """The field of a RangeStart setting."""
    return Field(default, description=description)


def per_channel(default: int, description: str, low: int = 1, high: int = 16):
    """How many ports (or allocations) one channel uses: the factor a range is sized by."""
    return Field(default, ge=low, le=high, description=description)

LAB_SPACE = IPv4Network("198.18.0.0/15")


def _inside_lab_space(value: IPv4Network) -> IPv4Network:
    if not value.subnet_of(LAB_SPACE):
        raise ValueError("must lie inside 198.18.0.0/15, the range set aside for test networks")
    return value


#: A network of the test lab: inside the range set aside for test networks.
LabNetwork = Annotated[Network, AfterValidator(_inside_lab_space)]


class Settings(BaseModel):
    """Base for every settings model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- deployment-wide ---------------------------------------------------------------------------


class Thresholds(Settings):
    """Service levels one load scenario must meet; a breach makes `rtcstack load` exit non-zero."""

    max_failure_ratio: Float = Field(0.01, ge=0, le=1, description="Failed exchanges / all exchanges.")
    max_p95_setup_ms: Float | None = Field(
        None, gt=0, description="95th percentile of the scenario's setup step (REGISTER, call setup, Allocate, "
                                "room join, HTTP request), in milliseconds; none: not checked.")
    max_loss_percent: Float | None = Field(None, ge=0, le=100, description="Packets lost over all media streams.")
    max_jitter_p95_ms: Float | None = Field(None, ge=0, description="95th percentile of the streams' RFC 3550 jitter.")
    min_mos: Float | None = Field(
        None, ge=1, le=4.5, description="Lowest E-model MOS that 95 % of the media streams must reach.")


class LoadSettings(Settings):
    """`rtcstack load`: the scenarios' pacing and the service levels they gate on."""

    register_interval_seconds: Float = Field(
        1.0, ge=0, le=3600, description="sip_register: seconds between one user's REGISTERs (0: back to back).")
    register_phones_per_user: Int = Field(
        1, ge=1, le=500, description="sip_register: phones each user keeps registered over its one socket, all "
                                     "re-registering together every register_interval_seconds (each registration is "
                                     "still reported on its own); users x this = phones. More phones per user cost "
                                     "the generator less CPU per registration.")
    call_pairs_per_user: Int = Field(
        1, ge=1, le=140, description="sip_calls: caller and callee pairs each user drives over its one socket, all "
                                     "calling together (each call and step still reported on its own); users x this = "
                                     "calls at once. More pairs per user cost the generator less CPU per call.")
    call_hold_seconds: Float = Field(30.0, ge=1, le=3600, description="sip_calls: how long each call carries RTP.")
    call_pause_seconds: Float = Field(1.0, ge=0, le=3600, description="sip_calls: pause between one user's calls.")
    call_fallback_percent: Int = Field(
        10, ge=0, le=100, description="sip_calls: share of calls the callee does not answer: after the account's ring "
                                      "time (5 s for the load accounts) voicemail answers (R10, R14; needs a voicemail "
                                      "host, else 0).")
    call_voicemail_percent: Int = Field(
        10, ge=0, le=100, description="sip_calls: share of calls the callee answers busy: voicemail answers at once.")
    turn_message_size: Int = Field(172, ge=20, le=1400, description="turn_relay: bytes per relayed message "
                                   "(172 = an RTP packet of G.711 at 20 ms).")
    turn_interval_ms: Int = Field(20, ge=1, le=10000, description="turn_relay: milliseconds between one user's messages.")
    turn_burst_messages: Int = Field(250, ge=1, le=100000, description="turn_relay: messages per measured burst.")
    sfu_hold_seconds: Float = Field(10.0, ge=0, le=3600, description="sfu_join: how long a participant stays in the room.")
    sfu_room_size: Int = Field(0, ge=0, le=10000, description="sfu_join: participants per room (rooms are made as "
                                                               "users arrive); 0: one room per load process.")
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


Price = Annotated[Decimal, Field(ge=0, le=Decimal("100000"), decimal_places=2)]


class BillingSettings(Settings):
    """Money (P13, seed 002): the price list, the billing increment and the minute packs. Amounts are in
    `portal.currency`, with 2 decimal places; the rules themselves are rtcstack.domain.money's."""

    channel_price: Price = Field(Decimal("25.00"), description="Price of one channel for one 30-day term "
                                 "(charged from the balance at purchase, change and renewal).")
    pack_price: Price = Field(Decimal("90.00"), description="Price of one minute pack (5,000 minutes) for one term.")
    pack_prefixes: tuple[Annotated[str, Field(pattern=r"^[0-9]{1,15}$")], ...] = Field(
        ("1",), min_length=1, description="E.164 prefixes of the destinations minute packs cover (seed 002: the "
                                          "United States, landlines and mobiles: `1`).")
    increment_seconds: Int = Field(60, ge=1, le=60, description="Billing increment: a call's duration is rounded "
                                   "up to a multiple of it (60: per started minute; 1: per second).")
    employees_per_channel: Int = Field(4, ge=1, le=100, description="The suggested channel count is one channel "
                                       "for every this many employees (started), at least one.")
    renewal_interval_minutes: Int = Field(15, ge=1, le=1440, description="How often the renewal timer runs on "
                                          "portal hosts (terms that ended are renewed or lapse).")
    accounting_days: Int = Field(30, ge=1, le=3650, description="The registrar's raw accounting rows (acc, "
                                 "missed_calls: what each CDR is made from when the call ends) older than this are "
                                 "deleted by the renewal timer, up to 100,000 of each table per run; the CDRs stay.")


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


class ClientNetwork(Settings):
    """A network of clients behind a NAT router, as customers sit behind home routers and carrier-grade NAT:
    `rtcstack lab up` makes a router container (nftables masquerading) between it and the lab network, and
    a client container inside it whose network the NAT tests run SIP clients and Chromium in."""

    name: str = Field(pattern=r"^[a-z][a-z0-9]{0,15}$", description="Short name: containers are "
                      "`<lab>-<name>-router` and `<lab>-<name>-client`.")
    subnet: LabNetwork = Field(description="The client network's subnet, inside 198.18.0.0/15 (the client is its "
                                        ".10, the router its .2).")
    router_address: Address = Field(description="The router's address on the lab network: the public address "
                                                "the lab's servers see the clients come from.")
    nat: Literal["cone", "symmetric"] = Field(
        "cone", description="cone: one public port per client port for every destination (port-restricted cone, "
                            "as most home routers); symmetric: a new public port for each destination (as "
                            "carrier-grade NAT).")
    udp_timeout_seconds: Int = Field(
        30, ge=5, le=600, description="How long a UDP mapping lives without a packet (short, so keepalives are "
                                      "put to the test).")

    @field_validator("subnet")
    @classmethod
    def _room_for_router_and_client(cls, value: IPv4Network) -> IPv4Network:
        if value.num_addresses < 16:
            raise ValueError("must have at least 16 addresses (a /28 or larger)")
        return value


class PublicNetwork(Settings):
    """The lab's hosts behind a 1:1 NAT, as in a cloud: clients live on this network and reach each host only at
    its `public_address`, which a router container maps to its private address (and back) for every port."""

    subnet: LabNetwork = Field(description="The public network's subnet, inside 198.18.0.0/15: every host's "
                                        "public_address lies in it (not .1, .2 or .250: the gateway, the "
                                        "router, the outside client).")
    router_address: Address = Field(description="The 1:1 NAT router's address on the lab network.")

    @field_validator("subnet")
    @classmethod
    def _room_for_every_host(cls, value: IPv4Network) -> IPv4Network:
        if value.num_addresses < 256:
            raise ValueError("must be a /24 or larger")
        return value


class LabSettings(Settings):
    """The Docker test lab that `rtcstack lab up` builds for this inventory."""

    network: str = Field(description="Name of the lab's Docker network.")
    subnet: LabNetwork = Field(description="The lab network's subnet, inside 198.18.0.0/15.")
    apt_cache_dir: Path = Field(
        Path("/var/cache/rtcstack/apt"), description="Directory on the machine that caches the lab's apt downloads."
    )

    client_networks: tuple[ClientNetwork, ...] = Field(
        (), description="Client networks behind NAT routers (none: every client is on the lab network).")
    public_network: PublicNetwork | None = Field(
        None, description="Put the hosts behind a 1:1 NAT (none: clients reach the hosts' private addresses).")

    @model_validator(mode="after")
    def _client_networks_fit(self) -> LabSettings:
        names = [n.name for n in self.client_networks]
        if len(set(names)) != len(names):
            raise ValueError(f"client_networks: each needs its own name (got {', '.join(names)})")
        public = self.public_network
        if public is not None:
            if public.router_address not in self.subnet:
                raise ValueError(f"public_network.router_address {public.router_address} is not on the lab network "
                                 f"{self.subnet}")
            if public.subnet.overlaps(self.subnet):
                raise ValueError(f"public_network.subnet {public.subnet} overlaps the lab network {self.subnet}")
        for i, net in enumerate(self.client_networks):
            if public is not None and net.subnet.overlaps(public.subnet):
                raise ValueError(f"client_networks[{i}].subnet {net.subnet} overlaps {public.subnet}")
            if net.router_address not in self.subnet:
                raise ValueError(f"client_networks[{i}].router_address {net.router_address} is not on the lab "
                                 f"network {self.subnet}")
            for other in [self.subnet, *(n.subnet for n in self.client_networks[:i])]:
                if net.subnet.overlaps(other):
                    raise ValueError(f"client_networks[{i}].subnet {net.subnet} overlaps {other}")
        return self


class HostSettings(Settings):
    """Per-host settings, given in the inventory next to each host."""

    private_address: Address = Field(description="Address on the private network between rtcstack hosts.")
    public_address: Address | None = Field(
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
    restart_delay_seconds: Int = Field(
        1, ge=0, le=60, description="How long systemd waits before restarting a daemon that failed or was killed.")
    restart_burst: Int = Field(
        10, ge=1, le=1000, description="Restarts systemd allows a daemon within restart_interval_seconds before "
                                       "it gives up (the unit stays failed and verify says so).")
    restart_interval_seconds: Int = Field(
        120, ge=10, le=86400, description="The window restart_burst counts restarts in.")

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
