"""registrar role: Kamailio 5.6, the SIP registrar and proxy, on PostgreSQL, with a kamailio.cfg rendered
from the typed model; every file is staged in /etc/rtcstack/kamailio and checked with `kamailio -c` before
it reaches /etc/kamailio."""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING

from pydantic import Field, field_validator, model_validator

from ..config.settings import Int, Network, Port, Settings
from ..domain.names import DIALLED, USERNAME
from ..templating import ConfigFile
from .base import DatabaseLogin, Role, listen, network_sysctls
from .voicemail import sip_addresses as voicemail_addresses

if TYPE_CHECKING:
    from ..site.deployment import Deployment, Host

#: Where the registrar's files are staged, then checked with `kamailio -c` before they reach /etc/kamailio.
KAMAILIO_STAGED = "/etc/rtcstack/kamailio"
KAMAILIO_PACKAGES = ["kamailio", "kamailio-postgres-modules", "kamailio-tls-modules"]
#: Files staged and installed together (relative paths inside kamailio.cfg resolve to the same directory).
KAMAILIO_FILES = ("kamailio.cfg", "tls.cfg", "rtcstack-secrets.cfg")


class RegistrarSettings(Settings):
    """Kamailio 5.6, the SIP registrar and proxy."""

    sip_port: Port = Field(5060, description="SIP port for UDP and TCP.")
    sip_tls_port: Port = Field(5061, description="SIP over TLS port.")
    dmq_port: Port = Field(5090, description="Port on the private address where registrars replicate registrations and "
                                             "calls to each other (Kamailio's DMQ; registrar hosts only; used with "
                                             "two or more registrars).")
    rpc_port: Port = Field(5080, description="Kamailio's JSON-RPC over HTTP on the private address, open to portal "
                                             "hosts only, with the bearer secret registrar_rpc_token: the portal's live "
                                             "lamps (R2) read ul.lookup there.")
    udp_workers: Int = Field(8, ge=1, le=64, description="Kamailio UDP worker processes per listener.")
    tcp_workers: Int = Field(4, ge=1, le=64, description="Kamailio TCP/TLS worker processes.")
    min_expires: Int = Field(60, ge=10, le=3600, description="Shortest registration Kamailio accepts (seconds).")
    max_expires: Int = Field(3600, ge=60, le=86400, description="Longest registration Kamailio grants (seconds).")
    keepalive_interval_seconds: Int = Field(
        20, ge=5, le=600,
        description="How often Kamailio sends an OPTIONS keepalive to every registered contact (R2); the same usrloc "
                    "timer also removes expired registrations.")
    lamp_good_rtt_ms: Int = Field(
        150, ge=1, le=10000, description="Keepalive round-trip time under which an account's lamp is green (R2).")
    lamp_severe_rtt_ms: Int = Field(
        600, ge=1, le=60000, description="Keepalive round-trip time from which the lamp is red instead of yellow (R2).")
    max_calls: Int | None = Field(
        None, ge=1, le=100000, description="Platform-wide cap on concurrent calls; unset: the deployment's channels.")
    max_call_seconds: Int = Field(
        14400, ge=60, le=86400,
        description="A call still up after this long is ended by the registrar (dialog timeout): BYE to both phones, "
                    "the end accounted (the CDR ended and charged) and the media session released.")
    call_keepalive_seconds: Int = Field(
        30, ge=0, le=3600,
        description="Every this many seconds (30 or more: Kamailio's least) the registrar asks both phones of a call "
                    "in progress whether it is still up (an in-dialog OPTIONS). A phone that does not answer, or "
                    "answers that it no longer knows the call (408, 481), has the call ended: BYE to both phones, the "
                    "end accounted (the CDR ended and charged) and the media session released. A call whose BYE was "
                    "lost is then charged for up to this long plus 40 s (the request's 30 s timeout, then Kamailio's "
                    "10 s) more, not up to registrar.max_call_seconds. 0: no keepalives.")

    @field_validator("call_keepalive_seconds")
    @classmethod
    def _keepalives_kamailio_sends(cls, value: int) -> int:
        if 0 < value < 30:
            raise ValueError(f"{value} is under 30, the least interval Kamailio's dialog module sends keepalives at: "
                             f"set 30 or more, or 0 for no keepalives")
        return value
    max_call_attempts_per_second: Int = Field(
        0, ge=0, le=100000,
        description="New calls per second one registrar admits; the rest get 503 with Retry-After at once (graceful "
                    "overload). 0: no rate cap (shared memory and max_calls still shed). Set it to about 80 % of the "
                    "highest calls/s benchmarks/kamailio_reference.py completes without failures on the registrar's "
                    "hardware with no cap: past that, the shed calls' replies still fit beside the admitted ones.")
    country_code: str = Field("48", pattern=r"^[1-9][0-9]{0,2}$", description="Country code national numbers belong to (E.164, R7).")
    national_prefix: str = Field(
        "", pattern=r"^[0-9]?$", description="Trunk prefix before national numbers (empty in Poland, 0 in the UK).")
    national_number_length: Int = Field(
        9, ge=4, le=14, description="Digits in a national number: area code plus subscriber number (R7).")
    emergency_numbers: tuple[str, ...] = Field(
        ("112", "997", "998", "999", "911"), description="Numbers refused with an explicit reason: no emergency calls (R15).")
    flood_requests_per_second: Int = Field(
        200, ge=5, le=100000, description="Requests per second from one source address above which it is blocked (R13).")
    ban_seconds: Int = Field(
        300, ge=10, le=86400, description="How long a flooding or guessing source stays blocked (R13).")
    auth_failures_before_ban: Int = Field(
        10, ge=3, le=1000, description="Failed authentications (wrong password or unknown user) from one source "
                                       "address within auth_failure_window_seconds that get it banned.")
    auth_failures_per_account: Int = Field(
        30, ge=3, le=10000, description="Failed authentications for one account, from any sources, within the "
                                        "window; beyond it every further failure bans its source at once "
                                        "(the right password still works).")
    auth_failure_window_seconds: Int = Field(
        300, ge=10, le=86400, description="How long failed authentications are counted.")
    password_cache_seconds: Int = Field(
        3600, ge=10, le=86400, description="How long a registrar keeps an account's password hash (HA1) it read for a "
                                           "REGISTER without using it again. A change to the account or its customer "
                                           "(password, enabled, deletion) is applied within about a second whatever "
                                           "this is: the database notes it and each registrar forgets the account.")
    tcp_connections_per_source: Int = Field(
        200, ge=4, le=100000, description="SIP TCP and TLS connections one source address may hold open (the "
                                          "firewall resets the rest): one address cannot fill Kamailio's table. "
                                          "Raise it for offices with more phones behind one NAT address.")
    tcp_idle_seconds: Int = Field(
        30, ge=5, le=3600, description="A SIP TCP or TLS connection that carries nothing for this long is closed "
                                       "(one that never sends a request holds a slot no longer); a connection a "
                                       "phone registered over stays open as long as its registration.")
    tcp_max_connections: Int = Field(
        4096, ge=64, le=1000000, description="Kamailio's table of open TCP and TLS connections, for all sources.")
    flood_exempt: tuple[Network, ...] = Field(
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


#: Graceful overload: new calls and registrations are refused (503, Retry-After) once shared memory is this full.
OVERLOAD_SHM_PERCENT = 80
OVERLOAD_RETRY_AFTER_SECONDS = 5
#: How long Kamailio leaves out a media host that did not answer (rtpengine's default is 60 s).
RTPENGINE_DISABLE_SECONDS = 2
#: How long an answered call waits for its ACK before the registrar ends it (RFC 3261 13.3.1.4: 64*T1, after which
#: the answering phone stops resending its 200).
UNACKED_CALL_SECONDS = 32


#: Shared memory (MB) for a burst of registrations: an authorised REGISTER's transaction (11-16 KiB: the request's
#: copy and tm's branch slots) stays 5 s after its 200 (tm's wait timer, which answers the phone's retransmissions).
#: With passwords kept in memory one registrar completes about 3,800 REGISTER/s on the lab (2,000 before): measured
#: 219 MB used at 3,184/s and 270 MB at 3,554/s, against the 299 MB overload threshold of 374 MB, so a longer burst
#: was shed while the CPU had room. 320 MB keeps the threshold above about 6,000/s (160 MB until 2026-12-04).
#: Shared memory is reserved, not touched: pages a burst never uses cost no RAM.
REGISTRATION_BURST_MB = 320


def shm_mb(deployment: Deployment) -> int:
    """Kamailio's shared memory (MB): a base, room for a burst of registrations, and for each channel's
    transactions and dialog."""
    return 64 + REGISTRATION_BURST_MB + deployment.channels // 2


def max_calls(deployment: Deployment) -> int:
    """Platform-wide cap on concurrent calls (R5)."""
    return deployment.registrar.max_calls or deployment.channels


def database_connections(deployment: Deployment) -> int:
    """Connections one registrar host opens: one per worker, plus timers and helpers."""
    return deployment.registrar.udp_workers + deployment.registrar.tcp_workers + 10


def listeners(deployment: Deployment, host: Host):
    r = deployment.registrar
    return [*listen("sip", "udp", r.sip_port, "registrar.sip_port"),
            *listen("sip", "tcp", r.sip_port, "registrar.sip_port", per_source=r.tcp_connections_per_source),
            *listen("sip-tls", "tcp", r.sip_tls_port, "registrar.sip_tls_port", per_source=r.tcp_connections_per_source),
            *(listen("rpc", "tcp", r.rpc_port, "registrar.rpc_port", rpc_clients(deployment))
              if rpc_clients(deployment) else []),
            *(listen("dmq", "udp", r.dmq_port, "registrar.dmq_port", peers(deployment, host))
              if peers(deployment, host) else [])]


def peers(deployment: Deployment, host: Host) -> list:
    """The other registrars' addresses: each replicates registrations and dialogs to them (DMQ), and sends them
    calls for the phones registered through them (Path)."""
    return [h.private_address for h in deployment.hosts_with("registrar") if h.name != host.name]


def rpc_clients(deployment: Deployment) -> list:
    """Who may use the JSON-RPC port: the portal's hosts."""
    return deployment.addresses_of("portal")


def rpc_urls(deployment: Deployment) -> list[str]:
    return [f"http://{h.private_address}:{deployment.registrar.rpc_port}/RPC" for h in deployment.hosts_with("registrar")]


def trusted_networks(deployment: Deployment) -> list[str]:
    """Sources never banned for flooding: our own hosts and the operator's exempt networks."""
    return [f"{h.private_address}/32" for h in deployment.hosts.values()] + [
        str(n) for n in deployment.registrar.flood_exempt]


def source_in(networks: list[str]) -> str:
    """A kamailio.cfg condition, true when the request came from one of `networks`: for IPv4, the core's `src_ip`
    comparisons, parsed once with the config (ipops' is_in_subnet() parses its list again for every request: 7-10 µs
    for the lab's seven hosts against 4.6 µs, issue 21); IPv6 networks through is_in_subnet(), as before (the lab has
    no IPv6 to prove the core's IPv6 comparisons on)."""
    tests, ipv6 = [], []
    for network in map(ipaddress.ip_network, networks):
        if network.version == 6:
            ipv6.append(str(network))
        elif network.prefixlen == network.max_prefixlen:
            tests.append(f"src_ip == {network.network_address}")
        else:
            tests.append(f"src_ip == {network}")
    if ipv6:
        tests.append(f'is_in_subnet("$si", "{",".join(ipv6)}")')
    return "(" + " || ".join(tests) + ")"


def kamailio_context(deployment: Deployment, host: Host) -> dict:
    r = deployment.registrar
    others = [str(a) for a in peers(deployment, host)]
    return {
        "host": host.name,
        "sip_domain": deployment.sip_domain,
        "private": str(host.private_address),
        "advertised": str(host.advertised_address),
        "sip_port": r.sip_port,
        "sip_tls_port": r.sip_tls_port,
        "rpc_port": r.rpc_port,
        "rpc_clients": [str(a) for a in rpc_clients(deployment)],
        "from_rpc_client": source_in([str(a) for a in rpc_clients(deployment)]),
        "udp_workers": r.udp_workers,
        "udp_receive_buffer": network_sysctls(deployment)["net.core.rmem_max"],
        "tcp_workers": r.tcp_workers,
        "tcp_max_connections": r.tcp_max_connections,
        "tcp_idle_seconds": r.tcp_idle_seconds,
        "keepalive_interval": r.keepalive_interval_seconds,
        "min_expires": r.min_expires,
        "max_expires": r.max_expires,
        "max_call_seconds": r.max_call_seconds,
        "call_keepalive_seconds": r.call_keepalive_seconds,
        "max_calls": max_calls(deployment),
        "overload_shm_percent": OVERLOAD_SHM_PERCENT,
        "overload_shm_bytes": shm_mb(deployment) * 1024 * 1024 * OVERLOAD_SHM_PERCENT // 100,
        "overload_calls_per_second": r.max_call_attempts_per_second,
        "overload_retry_after": OVERLOAD_RETRY_AFTER_SECONDS,
        "rtpengine_disable_seconds": RTPENGINE_DISABLE_SECONDS,
        "unacked_call_seconds": UNACKED_CALL_SECONDS,
        "rtpengine_sockets": " ".join(f"udp:{h.private_address}:{deployment.media.control_port}"
                                      for h in deployment.hosts_with("media")),
        "flood_per_unit": r.flood_requests_per_second * 2,
        "ban_seconds": r.ban_seconds,
        "auth_failures_before_ban": r.auth_failures_before_ban,
        "auth_failures_per_account": r.auth_failures_per_account,
        "auth_failure_window": r.auth_failure_window_seconds,
        "password_cache_seconds": r.password_cache_seconds,
        "from_trusted": source_in(trusted_networks(deployment)),
        "emergency_regex": "^(" + "|".join(r.emergency_numbers) + ")$",
        # What reaches SQL from a request: a caller's or registrant's name, a dialled name.
        "username": USERNAME, "dialled": DIALLED,
        "country_code": r.country_code,
        "national_prefix": r.national_prefix,
        "national_number_length": r.national_number_length,
        # R14: where unanswered, busy and do-not-disturb calls of accounts with voicemail go (none: busy).
        "voicemail_hosts": voicemail_addresses(deployment),
        "voicemail_probe_seconds": VOICEMAIL_PROBE_SECONDS, "voicemail_answer_ms": VOICEMAIL_ANSWER_MS,
        # Two or more registrars: a cluster (registrations and dialogs replicated over DMQ, Path to the phone's own).
        "peers": others,
        "from_peer": source_in(others) if others else "",
        "dmq_port": r.dmq_port,
        "server_id": [h.name for h in deployment.hosts_with("registrar")].index(host.name) + 1,
    }


def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    checked = {
        "kamailio.cfg": staged("kamailio.cfg", kamailio_context(deployment, host)),
        "tls.cfg": staged("tls.cfg", {}),
        "rtcstack-secrets.cfg": staged("rtcstack-secrets.cfg", {
            "user": LOGIN.name, "location_user": LOCATION_LOGIN.name,
            "password": deployment.secret("database_registrar_password"),
            "rpc_token": deployment.secret("registrar_rpc_token"),
            "nonce_secret": deployment.secret("registrar_nonce_secret"),
            # Every database host (libpq's host list); PGTARGETSESSIONATTRS in the unit picks the one taking writes.
            "address": ",".join(str(h.private_address) for h in deployment.hosts_with("database")),
            "port": deployment.database.port, "database": deployment.database.name}),
    }
    if deployment.hosts_with("voicemail"):
        checked["dispatcher.list"] = staged("dispatcher.list", {"voicemail": voicemail_addresses(deployment)})
    channels = deployment.channels
    return checked | {
        "defaults": ConfigFile("/etc/default/kamailio", "registrar/etc/default/kamailio.j2",
                               {"channels": channels, "shm_mb": shm_mb(deployment), "pkg_mb": 16}),
        "dropin": ConfigFile("/etc/systemd/system/kamailio.service.d/60-rtcstack.conf",
                             "registrar/etc/systemd/system/kamailio.service.d/60-rtcstack.conf.j2",
                             {"nofile": max(65536, channels * 64)}),
    }


#: How often each registrar asks each voicemail host OPTIONS, and how long a voicemail host has to answer an INVITE
#: before the call fails over to the next (the voicemail agent answers in milliseconds).
VOICEMAIL_PROBE_SECONDS = 5
VOICEMAIL_ANSWER_MS = 2000

#: Flood-exempt networks larger than a /24 take the ban away from more than a few load generators.
WIDE_EXEMPT_PREFIX = 24


def weakened(deployment: Deployment) -> list[tuple[str, object, str]]:
    wide = [str(n) for n in deployment.registrar.flood_exempt if n.prefixlen < WIDE_EXEMPT_PREFIX]
    return [("registrar.flood_exempt", wide, "sources in these networks are never banned for flooding or guessing")] if wide else []


def staged(name: str, context: dict) -> ConfigFile:
    """A file of /etc/kamailio, staged beside its peers for `kamailio -c`."""
    return ConfigFile(f"{KAMAILIO_STAGED}/{name}", f"registrar/etc/kamailio/{name}.j2", context, mode="640",
                      group="kamailio", installed=f"/etc/kamailio/{name}")


LOGIN = DatabaseLogin(
    # Kamailio 5.6 cannot use libpq's TLS next to its own: pg_hba admits it without TLS.
    "kamailio", "database_registrar_password", tls=False, connections=database_connections,
    # Kamailio reads registrants (registrant_ha1() reads sip_registrants as its caller; a call's credentials come
    # from call_start_row(), which reads as its owner), the changes to them, numbers and tariffs, writes locations and
    # accounting: nothing more.
    grants=("GRANT SELECT ON version, sip_registrants, registrant_changes, number_routes, tariffs, "
            "location TO kamailio",
            "GRANT SELECT ON call_generation TO kamailio",
            "GRANT EXECUTE ON FUNCTION call_start_row(text, text) TO kamailio",
            "GRANT INSERT ON acc, missed_calls TO kamailio",
            "GRANT USAGE ON SEQUENCE acc_id_seq, missed_calls_id_seq TO kamailio"),
)

#: usrloc's own login (LOCATION_DBURL): the location write-through, committed without waiting for the WAL flush.
#: A registration is in PostgreSQL before its 200 (a Kamailio crash loses none); a crash of the database host
#: itself may lose the last fraction of a second of them (wal_writer_delay, 200 ms, times three at most), which the
#: registrars still hold in memory and the phones send again at their next refresh. Waiting for the flush of each
#: registration capped one registrar at about 3,600 REGISTER/s on the lab (5,400 without it: issue 21). Accounting
#: and channel claims stay on the kamailio login, committed durably.
LOCATION_LOGIN = DatabaseLogin(
    "kamailio_location", "database_registrar_password", tls=False, connections=database_connections,
    grants=("GRANT SELECT ON version TO kamailio_location",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON location, location_attrs TO kamailio_location",
            "GRANT USAGE ON SEQUENCE location_id_seq, location_attrs_id_seq TO kamailio_location",
            "ALTER ROLE kamailio_location SET synchronous_commit = off"),
)

ROLE = Role(
    name="registrar", settings=RegistrarSettings, units=("kamailio",), needs=("database", "media"),
    secrets={"database_registrar_password": "PostgreSQL password of Kamailio's database user",
             "load_account_key": "key deriving the passwords of `rtcstack load`'s test accounts",
             "registrar_rpc_token": "bearer token of Kamailio's JSON-RPC port (the portal's lamps)",
             "registrar_nonce_secret": "secret every registrar signs its digest nonces with"},
    database_login=LOGIN, extra_database_logins=(LOCATION_LOGIN,), serves_sip_domain=True, network_heavy=True,
    listeners=listeners, config_files=config_files, weakened=weakened, weakenable=("registrar.flood_exempt",),
)
