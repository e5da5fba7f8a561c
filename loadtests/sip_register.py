"""sip_register: each user registers one test account with digest auth, again every
`load.register_interval_seconds` (0: back to back). Run it with `rtcstack load sip_register INVENTORY`."""

from locust import User, constant_pacing, task

from rtcstack.load.context import LoadContext
from rtcstack.load.support import SLOTS, ProtocolFailure, exchange
from rtcstack.protocols.sip.agent import UserAgent


class SipRegisterUser(User):
    context = LoadContext.current()
    wait_time = constant_pacing(context.load["register_interval_seconds"])
    component = "sip_register"

    def on_start(self):
        self.slot = SLOTS.take(self.environment, self.component)
        username, password = self.context.accounts[self.component][self.slot]
        server = self.context.sip_servers[self.slot % len(self.context.sip_servers)]
        self.agent = UserAgent(*server, self.context.sip_domain, username, password)

    @task
    def register(self):
        with exchange(self.environment, "SIP", "REGISTER"):
            reply = self.agent.register(expires=300, timeout=8)
            if reply is None:
                raise ProtocolFailure("REGISTER: no answer within 8 s")
            if reply.status != 200:
                raise ProtocolFailure(f"REGISTER: {reply.status} {reply.reason}")

    def on_stop(self):
        self.agent.close()
        SLOTS.give_back(self.component, self.slot)
