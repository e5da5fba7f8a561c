"""turn_relay: each user allocates a TURN relay with REST-API credentials, permits and binds a channel to
an echo peer on the load machine, then sends bursts of `load.turn_burst_messages` messages of
`load.turn_message_size` bytes every `load.turn_interval_ms` through it. Each burst logs loss, round trip
(as delay: half of it) and jitter of the echoes. Run it with `rtcstack load turn_relay INVENTORY`."""

import struct
import time
from queue import Empty

from locust import User, constant, task

from rtcstack.load.context import LoadContext
from rtcstack.load.support import ProtocolFailure, echo_peer, exchange, record_media
from rtcstack.protocols.rtp import StreamQuality, jitter_step
from rtcstack.protocols.turn_rest import rest_credentials
from rtcstack.protocols.turn import TurnClient

_users = iter(range(10**9))


class TurnRelayUser(User):
    context = LoadContext.current()
    wait_time = constant(0)
    component = "turn_relay"

    def on_start(self):
        self.number = next(_users)
        self.server = self.context.turn_servers[self.number % len(self.context.turn_servers)]
        self.peer = echo_peer(self.server)
        self.client = None
        self.refreshed = 0.0

    def _connect(self):
        credentials = rest_credentials(self.context.turn_secret, f"load{self.number}", self.context.turn_lifetime)
        self.client = TurnClient(self.server, credentials.username, credentials.password)
        with exchange(self.environment, "TURN", "Allocate"):
            self.client.allocate(lifetime=600)
        with exchange(self.environment, "TURN", "CreatePermission"):
            self.client.create_permission(self.peer)
        with exchange(self.environment, "TURN", "ChannelBind"):
            self.client.channel_bind(self.peer)
        self.refreshed = time.monotonic()

    @task
    def burst(self):
        if self.client is None:
            self._connect()
        elif time.monotonic() - self.refreshed > 300:
            with exchange(self.environment, "TURN", "Refresh"):
                self.client.refresh(600)
                self.refreshed = time.monotonic()
        load = self.context.load
        count, size, interval = load["turn_burst_messages"], load["turn_message_size"], load["turn_interval_ms"] / 1000
        padding = b"\0" * (size - 12)
        sent_at: dict[int, float] = {}
        with exchange(self.environment, "TURN", "relay burst") as outcome:
            start = time.monotonic()
            for n in range(count):
                sent_at[n] = time.monotonic()
                self.client.send_channel(self.peer, struct.pack("!Id", n, sent_at[n]) + padding)
                time.sleep(max(0.0, start + (n + 1) * interval - time.monotonic()))
            rtts, deadline = {}, time.monotonic() + 1.0
            while len(rtts) < count and time.monotonic() < deadline:
                try:
                    _, payload, arrival = self.client.data.get(timeout=0.05)
                except Empty:
                    continue
                if len(payload) >= 12:
                    n = struct.unpack_from("!I", payload)[0]
                    if n in sent_at:
                        rtts[n] = arrival - sent_at[n]
            ordered = [rtts[n] for n in sorted(rtts)]
            jitter = 0.0
            for a, b in zip(ordered, ordered[1:]):
                jitter = jitter_step(jitter, a, b)  # RFC 3550's estimator over the round trips
            quality = StreamQuality(len(rtts), count, count, jitter * 1000, jitter * 1000,
                                    (sorted(ordered)[len(ordered) // 2] / 2 * 1000) if ordered else None)
            record_media("turn", quality)
            outcome["ms"] = (quality.delay_ms or 0) * 2
            if not rtts:
                raise ProtocolFailure(f"no echo of {count} messages came back through the relay")

    def on_stop(self):
        if self.client is not None:
            self.client.close()
