"""sip_calls: each user registers its callees, and each of its `load.call_pairs_per_user` callers (default 1) calls
its callee through the registrar (proxy auth), holds G.711 RTP both ways through the media relay for
`load.call_hold_seconds`, hangs up, and logs each direction's loss, jitter, one-way delay and MOS. A share of the
calls (`load.call_fallback_percent`) the callee does not answer: after its ring time voicemail answers (ring
fallback, R10/R14); another share (`load.call_voicemail_percent`) it answers busy: voicemail answers at once; the
caller then leaves a message for the hold time. A user's pairs share one socket and call together, then wait
`load.call_pause_seconds` (`CallPairs`). Run it with `rtcstack load sip_calls INVENTORY`."""

from locust import User, constant, task

from rtcstack.load.context import LoadContext
from rtcstack.load.support import SLOTS, record_media, report
from rtcstack.protocols.rtp import RtpClock
from rtcstack.protocols.sip.call_pairs import ANSWERED, BUSY, RINGING, CallOutcome, CallPairs

# Every call's media goes through the media relay, which gives each call leg a port of its own: this process's
# streams can share sockets, read and sent in batches (a system call per socket and tick, not per packet).
RtpClock.share_sockets()

#: Each kind of call's setup step, as reported.
SETUP_STEPS = {ANSWERED: "call setup", RINGING: "call to voicemail after ringing", BUSY: "call to voicemail (busy)"}


class SipCallsUser(User):
    context = LoadContext.current()
    wait_time = constant(0)  # the task pauses itself: it answers the registrar's keepalives while it waits
    pairs_per_user = context.load.get("call_pairs_per_user", 1)
    component = "sip_calls"

    def on_start(self):
        self.slot = SLOTS.take(self.environment, self.component)
        accounts = self.context.accounts[self.component]
        first = 2 * self.pairs_per_user * self.slot
        pairs = [(accounts[first + 2 * n], accounts[first + 2 * n + 1]) for n in range(self.pairs_per_user)]
        server = self.context.sip_servers[self.slot % len(self.context.sip_servers)]
        self.pairs = CallPairs(tuple(server), self.context.sip_domain, pairs, self.context.load["call_hold_seconds"])
        self.registered = False
        self.calls = 0
        self.fallback = self.context.load.get("call_fallback_percent", 0)
        self.voicemail = self.context.load.get("call_voicemail_percent", 0)

    def kind(self, pair: int) -> str:
        """A call's kind, spread evenly over each pair's calls: answered, ringing (to voicemail) or busy."""
        self.calls += 1
        share = (self.calls * 37 + (self.slot * self.pairs_per_user + pair) * 11) % 100
        return BUSY if share < self.voicemail else RINGING if share < self.voicemail + self.fallback else ANSWERED

    @task
    def call(self):
        if not self.registered:
            outcomes = self.pairs.register_callees(timeout=8, report=self.reported)
            if any(o.error for o in outcomes):
                self.pairs.serve(1.0)  # (reported; the next task tries again, a second later)
                return
            self.registered = True
        self.pairs.call_all([self.kind(n) for n in range(self.pairs_per_user)], timeout=16, report=self.reported)
        self.pairs.serve(self.context.load["call_pause_seconds"])

    def reported(self, outcome: CallOutcome) -> None:
        """Each step of each call, as Locust requests: the callee's REGISTER, the setup, the BYE, the media."""
        if outcome.step == "register":
            report(self.environment, "SIP", "callee REGISTER", outcome.ms, outcome.error)
        elif outcome.step == "setup":
            report(self.environment, "SIP", SETUP_STEPS[outcome.kind], outcome.ms, outcome.error)
        elif outcome.step == "bye":
            report(self.environment, "SIP", "BYE", outcome.ms, outcome.error)
        elif outcome.kind != ANSWERED:  # voicemail answered: the greeting came back, the message went to the mailbox
            quality = outcome.streams[0].quality()
            report(self.environment, "RTP", "voicemail greeting", quality.delay_ms or 0.0,
                   None if quality.received else "RTP: voicemail sent no greeting")
        else:
            qualities = [stream.quality() for stream in outcome.streams]
            for quality in qualities:
                record_media("call", quality)
            carried = len(qualities) == 2 and all(q.received for q in qualities)
            report(self.environment, "RTP", "call media", qualities[-1].delay_ms or 0.0,
                   None if carried else "RTP: a direction of the call carried no media")

    def on_stop(self):
        self.pairs.close()
        SLOTS.give_back(self.component, self.slot)
