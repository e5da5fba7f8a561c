"""sfu_join: each user opens a Janus session through the edge, attaches the video room plugin, joins a room
(made with the room key as users arrive: `load.sfu_room_size` participants each, or one per load process),
stays `load.sfu_hold_seconds` sending keepalives, and leaves. Run it with `rtcstack load sfu_join INVENTORY`."""

import itertools
import secrets
import threading
import time

from locust import User, constant, events, task

from rtcstack.protocols.janus import VIDEOROOM, JanusError, JanusHttp
from rtcstack.load.context import LoadContext
from rtcstack.load.support import ProtocolFailure, exchange

_rooms: dict[int, tuple[int, JanusHttp, int]] = {}
_rooms_lock = threading.Lock()
_arrivals = itertools.count()


def room(context: LoadContext, slot: int) -> int:
    """The room of a user's slot: slot // load.sfu_room_size (or 0), created on first use with the room key,
    removed at the end."""
    size = context.load.get("sfu_room_size") or 0
    key = slot // size if size else 0
    with _rooms_lock:
        if key not in _rooms:
            admin = JanusHttp(context.janus_url, api_secret=context.janus_api_secret, cafile=context.cafile)
            admin.create()
            handle = admin.attach(VIDEOROOM)
            number = secrets.randbelow(2**31)
            reply = admin.message(handle, {"request": "create", "room": number, "admin_key": context.janus_room_key,
                                           "publishers": 1000, "description": "rtcstack load"})
            data = reply.get("plugindata", {}).get("data", {})
            if data.get("videoroom") != "created":
                raise ProtocolFailure(f"creating the load room failed: {data}")
            _rooms[key] = (number, admin, handle)
        return _rooms[key][0]


@events.quitting.add_listener
def _remove_rooms(**kwargs):
    for number, admin, handle in _rooms.values():
        try:
            admin.message(handle, {"request": "destroy", "room": number})
        except (JanusError, OSError):
            pass
        admin.destroy()


class SfuJoinUser(User):
    context = LoadContext.current()
    wait_time = constant(1)

    def on_start(self):
        self.slot = next(_arrivals)

    def _client(self) -> JanusHttp:
        return JanusHttp(self.context.janus_url, api_secret=self.context.janus_api_secret, cafile=self.context.cafile)

    @task
    def join_and_leave(self):
        janus = self._client()
        try:
            with exchange(self.environment, "JANUS", "create session"):
                janus.create()
            with exchange(self.environment, "JANUS", "attach"):
                handle = janus.attach(VIDEOROOM)
            with exchange(self.environment, "JANUS", "join"):
                janus.join_room(handle, room(self.context, self.slot), f"load-{secrets.token_hex(3)}")
            deadline = time.monotonic() + self.context.load["sfu_hold_seconds"]
            while time.monotonic() < deadline:
                time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
                with exchange(self.environment, "JANUS", "keepalive"):
                    janus.keepalive()
            with exchange(self.environment, "JANUS", "leave"):
                janus.leave_room(handle)
        finally:
            janus.destroy()
