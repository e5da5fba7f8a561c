"""sfu_join: each user opens a Janus session through the edge with a signed token, attaches the video
room plugin, joins a room (created once per process with the room key), stays `load.sfu_hold_seconds`
sending keepalives, and leaves. Run it with `rtcstack load sfu_join INVENTORY`."""

import secrets
import threading
import time

from locust import User, constant, events, task

from rtcstack.protocols.janus import VIDEOROOM, JanusError, JanusHttp
from rtcstack.load.context import LoadContext
from rtcstack.load.support import ProtocolFailure, exchange

_room: dict = {}
_room_lock = threading.Lock()


def room(context: LoadContext) -> int:
    """The room this process's users join: created on first use with the room key, removed at the end."""
    with _room_lock:
        if "id" not in _room:
            admin = JanusHttp(context.janus_url, api_secret=context.janus_api_secret, cafile=context.cafile)
            admin.create()
            handle = admin.attach(VIDEOROOM)
            number = secrets.randbelow(2**31)
            reply = admin.message(handle, {"request": "create", "room": number, "admin_key": context.janus_room_key,
                                           "publishers": 1000, "description": "rtcstack load"})
            data = reply.get("plugindata", {}).get("data", {})
            if data.get("videoroom") != "created":
                raise ProtocolFailure(f"creating the load room failed: {data}")
            _room.update(id=number, admin=admin, handle=handle)
        return _room["id"]


@events.quitting.add_listener
def _remove_room(**kwargs):
    if "id" in _room:
        try:
            _room["admin"].message(_room["handle"], {"request": "destroy", "room": _room["id"]})
        except (JanusError, OSError):
            pass
        _room["admin"].destroy()


class SfuJoinUser(User):
    context = LoadContext.current()
    wait_time = constant(1)

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
                janus.join_room(handle, room(self.context), f"load-{secrets.token_hex(3)}")
            deadline = time.monotonic() + self.context.load["sfu_hold_seconds"]
            while time.monotonic() < deadline:
                time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
                with exchange(self.environment, "JANUS", "keepalive"):
                    janus.keepalive()
            with exchange(self.environment, "JANUS", "leave"):
                janus.leave_room(handle)
        finally:
            janus.destroy()
