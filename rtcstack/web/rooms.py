"""The Janus rooms of conference links (L5): a link's visitors share one video room (their video, H.264 pinned
so a SIP video phone can take part), one audio bridge (everyone's audio mixed, the video phone's included)
and one text room (chat, the only thing iOS gets), all numbered after the link. A room is created when
someone joins and destroyed by the sweeper once nobody is in it.

The links service talks to Janus' HTTP API on the SFU's private address with the API secret, and creates
rooms with the room admin key; browsers get only a signed, expiring token.
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import threading
import urllib.error
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..protocols.janus import AUDIOBRIDGE, TEXTROOM, VIDEOROOM, JanusError, JanusHttp
from .periodic import PeriodicTask

log = logging.getLogger("rtcstack.web.rooms")

PLUGINS = {"videoroom": VIDEOROOM, "audiobridge": AUDIOBRIDGE, "textroom": TEXTROOM}


@dataclass
class Rooms:
    """Room management on the SFU hosts. A room lives on one SFU host: `host_for(room)` picks it."""

    janus_urls: tuple[str, ...]
    api_secret: str
    room_key: str
    publishers: int = 12
    first_room: int = 1_000_000
    timeout: float = 5.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def host_index(self, room: int) -> int:
        """The SFU host a room lives on (its index among the SFU hosts): the same for every page and the gateway."""
        return room % len(self.janus_urls)

    def host_for(self, room: int) -> str:
        return self.janus_urls[self.host_index(room)]

    def _session(self, url: str) -> JanusHttp:
        janus = JanusHttp(url, api_secret=self.api_secret, timeout=self.timeout)
        janus.create()
        return janus

    @staticmethod
    def _sync(janus: JanusHttp, handle: int, body: dict) -> dict:
        reply = janus.message(handle, body)
        data = reply.get("plugindata", {}).get("data", {})
        if "error_code" in data:
            raise JanusError(data["error_code"], data.get("error", "plugin error"))
        return data

    @staticmethod
    def description(room: int) -> str:
        return f"conference {room}"

    def create_bodies(self, room: int, pin: str, description: str) -> dict[str, dict]:
        common = {"request": "create", "room": room, "permanent": False, "is_private": False, "pin": pin,
                  "admin_key": self.room_key, "description": description[:100]}
        return {
            "videoroom": {**common, "publishers": self.publishers, "videocodec": "h264", "h264_profile": "42e01f",
                          "audiocodec": "opus", "bitrate": 768_000, "fir_freq": 5, "notify_joining": True},
            "audiobridge": {**common, "sampling_rate": 16000, "allow_rtp_participants": True,
                            "audiolevel_event": False},
            "textroom": {**common, "history": 0},  # who joins later does not read what was said before
        }

    def ensure(self, room: int, pin: str) -> None:
        """Create the room in each plugin where it does not exist yet; joining needs `pin`."""
        janus = self._session(self.host_for(room))
        try:
            for name, body in self.create_bodies(room, pin, self.description(room)).items():
                handle = janus.attach(PLUGINS[name])
                if not self._sync(janus, handle, {"request": "exists", "room": room}).get("exists"):
                    try:
                        self._sync(janus, handle, body)
                    except JanusError as exc:
                        if "already exists" not in exc.reason:  # another worker created it meanwhile
                            raise
        finally:
            janus.destroy()

    def occupancy(self, url: str) -> dict[int, int]:
        """Participants per conference room on one SFU host (video room and audio bridge together)."""
        janus = self._session(url)
        try:
            counts: dict[int, int] = {}
            for name in ("videoroom", "audiobridge", "textroom"):
                handle = janus.attach(PLUGINS[name])
                data = self._sync(janus, handle, {"request": "list", "admin_key": self.room_key})
                for room in data.get("list", []):
                    number = int(room.get("room", 0))
                    # only conference rooms, which carry their own description: other services' and tools'
                    # rooms (load tests, the SFU's checks) are not the sweeper's business
                    if number >= self.first_room and room.get("description") == self.description(number):
                        counts[number] = counts.get(number, 0) + int(room.get("num_participants", 0) or 0)
            return counts
        finally:
            janus.destroy()

    def destroy(self, url: str, room: int) -> None:
        janus = self._session(url)
        try:
            for name in ("videoroom", "audiobridge", "textroom"):
                handle = janus.attach(PLUGINS[name])
                try:
                    self._sync(janus, handle, {"request": "destroy", "room": room, "permanent": False,
                                               "admin_key": self.room_key})
                except JanusError as exc:
                    log.info("room not destroyed", extra={"fields": {"room": room, "plugin": name,
                                                                      "reason": exc.reason}})
        finally:
            janus.destroy()

    def sweep(self, protected: Iterable[int] = (), doomed: Iterable[int] = ()) -> list[int]:
        """Destroy the conference rooms nobody is in (except `protected` ones: joined moments ago) and the rooms
        of revoked links (`doomed`), whoever is in them."""
        keep, kill, gone = set(protected), set(doomed), []
        for url in self.janus_urls:
            try:
                for room, participants in self.occupancy(url).items():
                    if room in kill or (participants == 0 and room not in keep):
                        self.destroy(url, room)
                        gone.append(room)
            except (JanusError, urllib.error.URLError, OSError) as exc:
                log.warning("room sweep failed", extra={"fields": {"sfu": url, "reason": str(exc)[:200]}})
        return gone


class Sweeper(PeriodicTask):
    """Runs `Rooms.sweep` every `period` seconds; `rooms_to_keep()` gives (rooms joined lately, rooms of revoked
    links). Every uvicorn worker runs one, but on each host only the worker holding the lock file sweeps a round
    (the others' rounds are no-ops); several hosts may sweep alike (a destroy of a room already gone is
    harmless)."""

    def __init__(self, rooms: Rooms, rooms_to_keep: Callable[[], tuple[Iterable[int], Iterable[int]]],
                 period: float = 30.0, lock_path: str | None = None):
        self.rooms, self.rooms_to_keep = rooms, rooms_to_keep
        # the unit's PrivateTmp: shared by its workers, private to the service
        self.lock_path = lock_path or os.path.join(tempfile.gettempdir(), "rtcstack-room-sweeper.lock")
        self._lock = None
        super().__init__("room-sweeper", period, self.sweep_if_first, "room sweep failed", stop_seconds=5)

    def sweep_if_first(self) -> list[int] | None:
        """Sweep if this worker holds the host's sweeper lock (taken once, kept while the worker lives: when it
        exits another worker takes over at its next round); None when another worker holds it."""
        if self._lock is None:
            lock = open(self.lock_path, "a")  # noqa: SIM115  (held open for the worker's life)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                return None
            self._lock = lock
        return self.rooms.sweep(*self.rooms_to_keep())

    def stop(self) -> None:
        super().stop()
        if self._lock is not None:
            self._lock.close()  # releases the lock
            self._lock = None
