"""sip_calls: each user registers a callee, calls it through the registrar (proxy auth), holds G.711 RTP
both ways through the media relay for `load.call_hold_seconds`, hangs up, and logs each direction's
loss, jitter, one-way delay and MOS. Run it with `rtcstack load sip_calls INVENTORY`."""

import time

from locust import User, constant, task

from rtcstack.load.context import LoadContext
from rtcstack.load.support import SLOTS, ProtocolFailure, exchange, record_media
from rtcstack.protocols.sip.agent import UserAgent


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

    @task
    def call(self):
        if not self.registered:
            with exchange(self.environment, "SIP", "callee REGISTER"):
                reply = self.callee.register(expires=3600, timeout=8)
                if reply is None or reply.status != 200:
                    raise ProtocolFailure(f"REGISTER: {reply.status if reply else 'no answer'}")
                self.registered = True
        with exchange(self.environment, "SIP", "call setup") as outcome:
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
