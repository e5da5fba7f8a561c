"""sip_register: each user keeps `load.register_phones_per_user` test accounts (default 1) registered with digest
auth over one socket, re-registering them together every `load.register_interval_seconds` (0: back to back), and
answers the registrar's keepalives in between. Every registration is reported on its own. Run it with
`rtcstack load sip_register INVENTORY`."""

import time

from locust import User, constant, task

from rtcstack.load.context import LoadContext
from rtcstack.load.support import SLOTS, report
from rtcstack.protocols.sip.registrations import Registrations


class SipRegisterUser(User):
    context = LoadContext.current()
    interval = context.load["register_interval_seconds"]
    phones = context.load.get("register_phones_per_user", 1)
    wait_time = constant(0)  # the task paces itself: it answers keepalives while it waits for the next round
    component = "sip_register"

    def on_start(self):
        self.slot = SLOTS.take(self.environment, self.component)
        accounts = self.context.accounts[self.component][self.slot * self.phones:(self.slot + 1) * self.phones]
        server = self.context.sip_servers[self.slot % len(self.context.sip_servers)]
        self.registrations = Registrations(tuple(server), self.context.sip_domain, accounts)

    @task
    def register(self):
        started = time.monotonic()
        self.registrations.register_all(
            timeout=8, report=lambda outcome: report(self.environment, "SIP", "REGISTER", outcome.ms, outcome.error))
        self.registrations.serve(self.interval - (time.monotonic() - started))

    def on_stop(self):
        self.registrations.close()
        SLOTS.give_back(self.component, self.slot)
