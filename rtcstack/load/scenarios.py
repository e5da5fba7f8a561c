"""The load scenarios: their Locust files, the exchanges they report and which one is the setup step.

Every exchange is reported through Locust's request event as (protocol, step); the gate reads them back
from Locust's CSV by these names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..resources import folder


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    steps: tuple[tuple[str, str], ...]
    setup: tuple[str, str] | None = None
    media: str | None = None  # the media log's kind, when the scenario measures media
    accounts_per_user: int = 0
    components: tuple[str, ...] = field(default=())
    file: str = ""  # the Locust file's name in loadtests/, when it is not the scenario's
    roles: tuple[str, ...] = ()  # the roles whose hosts the scenario talks to
    #: a load setting that multiplies accounts_per_user (phones per user), when the scenario has one
    accounts_setting: str = ""

    @property
    def locustfile(self):
        # http's file is http_edge.py: a loadtests/http.py would shadow the standard library's http.
        return folder("loadtests") / (self.file or f"{self.name}.py")

    def parts(self) -> tuple[Scenario, ...]:
        """The scenarios whose service levels apply: the scenario itself, or release's components."""
        return tuple(SCENARIOS[c] for c in self.components) if self.components else (self,)


SIP_REGISTER = Scenario(
    "sip_register", "Each user registers register_phones_per_user accounts (default 1) with digest auth over one "
    "socket, again every register_interval_seconds.",
    steps=(("SIP", "REGISTER"),), setup=("SIP", "REGISTER"), accounts_per_user=1,
    roles=("registrar",), accounts_setting="register_phones_per_user")
SIP_CALLS = Scenario(
    "sip_calls", "Each user (each of its call_pairs_per_user pairs) registers a callee, calls it through the registrar with proxy auth and holds G.711 "
    "RTP both ways through the media relay for call_hold_seconds, then hangs up; loss, jitter and MOS per stream. "
    "A share of the calls rings unanswered, or finds the callee busy, and leaves a voicemail message instead.",
    steps=(("SIP", "callee REGISTER"), ("SIP", "call setup"), ("SIP", "call to voicemail after ringing"),
           ("SIP", "call to voicemail (busy)"), ("SIP", "BYE"), ("RTP", "call media"), ("RTP", "voicemail greeting")),
    setup=("SIP", "call setup"), media="call", accounts_per_user=2, roles=("registrar", "media"),
    accounts_setting="call_pairs_per_user")
TURN_RELAY = Scenario(
    "turn_relay", "Each user allocates a relay with REST credentials, binds a channel to an echo peer on the load "
    "machine and sends turn_burst_messages messages every turn_interval_ms; loss, round trip and jitter per burst.",
    steps=(("TURN", "Allocate"), ("TURN", "CreatePermission"), ("TURN", "ChannelBind"), ("TURN", "Refresh"),
           ("TURN", "relay burst")),
    setup=("TURN", "Allocate"), media="turn", roles=("turn",))
SFU_JOIN = Scenario(
    "sfu_join", "Each user opens a Janus session through the edge, joins a video room, stays sfu_hold_seconds "
    "(keepalives) and leaves.",
    steps=(("JANUS", "create session"), ("JANUS", "attach"), ("JANUS", "join"), ("JANUS", "keepalive"),
           ("JANUS", "leave")),
    setup=("JANUS", "join"), roles=("edge", "sfu"))
HTTP = Scenario(
    "http", "Each user requests the edge's pages over HTTPS: its health page, a Janus ping, an invite page (with its "
    "QR code) and, with a links role, redeems of fresh invites (each creating a SIP account).",
    steps=(("HTTP", "GET /healthz"), ("HTTP", "POST /janus ping"), ("HTTP", "GET /i/TOKEN"),
           ("HTTP", "POST /api/v1/redeem")), setup=None, file="http_edge.py", roles=("edge",))
RELEASE = Scenario(
    "release", "Every scenario at once under a ramp-up, hold and ramp-down load shape.",
    steps=(), components=("sip_register", "sip_calls", "turn_relay", "sfu_join", "http"))

SCENARIOS = {s.name: s for s in (SIP_REGISTER, SIP_CALLS, TURN_RELAY, SFU_JOIN, HTTP, RELEASE)}
