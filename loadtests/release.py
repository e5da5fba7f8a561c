"""release: every scenario at once, as before a release, under a load shape: ramp up to --users over the
first fifth of --duration, hold for three fifths, ramp down over the last fifth. Each scenario keeps its own
service levels. Run it with `rtcstack load release INVENTORY --users N --duration T`."""

from http_edge import EdgeUser  # noqa: F401 - Locust runs every User class of this file

from locust import LoadTestShape
from sfu_join import SfuJoinUser
from sip_calls import SipCallsUser
from sip_register import SipRegisterUser
from turn_relay import TurnRelayUser

from rtcstack.load.context import LoadContext

SipRegisterUser.weight = 3
SipCallsUser.weight = 2
TurnRelayUser.weight = 2
SfuJoinUser.weight = 1
EdgeUser.weight = 2


class RampHoldRamp(LoadTestShape):
    context = LoadContext.current()

    def tick(self):
        elapsed, total, peak = self.get_run_time(), self.context.duration_seconds, self.context.users
        if elapsed >= total:
            return None
        ramp = max(1.0, total / 5)
        if elapsed < ramp:
            users = peak * elapsed / ramp
        elif elapsed < total - ramp:
            users = peak
        else:
            users = peak * (total - elapsed) / ramp
        return max(1, round(users)), max(1.0, peak / ramp)
