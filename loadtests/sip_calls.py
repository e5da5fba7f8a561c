"""sip_calls: each user registers a callee, calls it through the registrar (proxy auth), holds G.711 RTP
both ways through the media relay for `load.call_hold_seconds`, hangs up, and logs each direction's
loss, jitter, one-way delay and MOS. A share of the calls (`load.call_fallback_percent`) the callee does not
answer: after its ring time voicemail answers (ring fallback, R10/R14); another share
(`load.call_voicemail_percent`) it answers busy: voicemail answers at once; the caller then leaves a message for
the hold time. Run it with `rtcstack load sip_calls INVENTORY`."""

import time

from locust import User, constant, task

from rtcstack.load.context import LoadContext
from rtcstack.load.support import SLOTS, ProtocolFailure, exchange, record_media
from rtcstack.protocols.rtp import RtpClock
from rtcstack.protocols.sip.agent import UserAgent

# Every call's media goes through the media relay, which gives each call leg a port of its own: this process's
# streams can share sockets, read and sent in batches (a system call per socket and tick, not per packet).
RtpClock.share_sockets()


class SipCallsUser(User):
    context = LoadContext.current()
    wait_time = constant(context.load["call_pause_seconds"])
    component = "sip_calls"

    def on_start(self):
        self.slot = SLOTS.take(self.environment, self.component)
        accounts = self.context.accounts[self.component]
        (caller, caller_pw), (callee, callee_pw) = accounts[2 * self.slot], accounts[2 * self.slot + 1]
        server = self.context.sip_servers[self.slot % len(self.context.sip_servers)]
        self.hold = self.context.load["call_hold_seconds"]
        self.callee_name = callee
        self.callee = UserAgent(*server, self.context.sip_domain, callee, callee_pw, rtp_seconds=self.hold)
        self.caller = UserAgent(*server, self.context.sip_domain, caller, caller_pw, rtp_seconds=self.hold)
        self.registered = False
        self.calls = 0
        self.fallback = self.context.load.get("call_fallback_percent", 0)
        self.voicemail = self.context.load.get("call_voicemail_percent", 0)

    def kind(self) -> str:
        """This call's kind, spread evenly over each user's calls: answered, fallback or voicemail."""
        self.calls += 1
        share = (self.calls * 37 + self.slot * 11) % 100
        return "voicemail" if share < self.voicemail else "fallback" if share < self.voicemail + self.fallback \
            else "answered"

    @task
    def call(self):
        if not self.registered:
            with exchange(self.environment, "SIP", "callee REGISTER"):
                reply = self.callee.register(expires=3600, timeout=8)
                if reply is None or reply.status != 200:
                    raise ProtocolFailure(f"REGISTER: {reply.status if reply else 'no answer'}")
                self.registered = True
        kind = self.kind()
        self.callee.refuse_with = (486, "Busy Here") if kind == "voicemail" else None
        self.callee.answer_after = 60.0 if kind == "fallback" else 0.0
        step = {"answered": "call setup", "fallback": "call to voicemail after ringing",
                "voicemail": "call to voicemail (busy)"}[kind]
        with exchange(self.environment, "SIP", step) as outcome:
            call = self.caller.call(self.callee_name, timeout=16)
            outcome["ms"] = call.setup_seconds * 1000
            if not call.answered:
                raise ProtocolFailure(f"INVITE: {call.status} {call.reason}")
        time.sleep(self.hold)
        with exchange(self.environment, "SIP", "BYE", reschedule=False):
            reply = call.hangup()
            if reply is None or reply.status != 200:
                raise ProtocolFailure(f"BYE: {reply.status if reply else 'no answer'}")
        incoming = next((c for c in self.callee.incoming if c.invite.call_id == call.call_id), None)
        if kind != "answered":  # voicemail answered: the greeting came back, the message went to the mailbox
            if incoming:
                self.callee.forget(incoming)
            with exchange(self.environment, "RTP", "voicemail greeting") as outcome:
                quality = call.rtp.quality()
                outcome["ms"] = quality.delay_ms or 0.0
                if not quality.received:
                    raise ProtocolFailure("RTP: voicemail sent no greeting")
            return
        streams = [call.rtp] + ([incoming.rtp] if incoming and incoming.rtp else [])
        with exchange(self.environment, "RTP", "call media") as outcome:
            for stream in streams:
                quality = stream.quality()
                record_media("call", quality)
                outcome["ms"] = quality.delay_ms or 0.0
            if len(streams) < 2 or not all(s.received for s in streams):
                raise ProtocolFailure("RTP: a direction of the call carried no media")
        if incoming:
            self.callee.forget(incoming)

    def on_stop(self):
        self.caller.close()
        self.callee.close()
        SLOTS.give_back(self.component, self.slot)
