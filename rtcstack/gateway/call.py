"""One video phone in one conference room: Janus set up, the phone called, media relayed, all torn down."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass

from ..protocols.janus import AUDIOBRIDGE, STREAMING, VIDEOROOM, JanusError, JanusHttp
from ..protocols.sip.agent import UserAgent
from ..protocols.sip.message import SipMessage
from . import sdp
from .relay import Relay

log = logging.getLogger("rtcstack.gateway")

#: The relay's socket pairs (RTP and RTCP): the phone's side (the ports in the gateway's SDP) and Janus' side:
#: the audio bridge, the VideoRoom forwarder (a browser's video to the phone), the mountpoint (the phone's video).
SOCKETS = ("phone_audio", "phone_video", "janus_audio", "janus_video", "janus_mount")
STATES = ("calling", "answered", "ended", "failed")


@dataclass
class Target:
    """Whom to call into which room, as whom."""

    room: int
    pin: str
    janus_url: str
    caller: str
    password: str
    callee: str
    display: str
    publisher: int | None = None


@dataclass
class Environment:
    """What every call of this gateway host shares."""

    address: str
    ports: tuple[int, int]
    registrar: tuple[str, int]
    sip_domain: str
    janus_api_secret: str
    janus_room_key: str
    ring_seconds: int = 45


class ConferenceCall:
    """Started with `start()`; `state` moves calling -> answered -> ended (or failed, with `reason`)."""

    def __init__(self, target: Target, env: Environment):
        self.target, self.env = target, env
        self.state, self.reason = "calling", ""
        self.started = time.time()
        self.answered_at: float | None = None
        self.forwarded: int | None = None
        self._hangup = threading.Event()
        self._ended = threading.Event()
        self._janus: JanusHttp | None = None
        self._handles: dict[str, int] = {}
        self._relay: Relay | None = None
        self._agent: UserAgent | None = None
        self._sip = None
        #: the audio bridge's other participants (the pages): when the last one leaves, the phone is hung up
        self._listeners: set[int] = set()
        self._audio_id = 0
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"conference-{target.room}")

    # --- public ------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def hang_up(self) -> None:
        self._hangup.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._ended.wait(timeout)

    @property
    def active(self) -> bool:
        return self.state in ("calling", "answered")

    def status(self) -> dict:
        return {"room": self.target.room, "state": self.state, "reason": self.reason,
                "mountpoint": self.target.room if self.state == "answered" else None,
                "video_from": self.forwarded,
                "seconds": round((time.time() - (self.answered_at or self.started)), 1),
                "packets": self._relay.counters() if self._relay else {}}

    # --- the call's life ----------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._setup_janus()
            self._call_phone()
            if self.state == "answered":
                self._in_call()
        except (JanusError, OSError, ValueError, KeyError) as error:
            log.warning("conference %s: %s", self.target.room, error)
            self.state, self.reason = "failed", f"{type(error).__name__}: {error}"
        finally:
            self._teardown()
            if self.state in ("calling", "answered"):
                self.state = "ended"
            self._ended.set()

    def _message(self, plugin: str, body: dict) -> dict:
        reply = self._janus.message(self._handles[plugin], body)
        data = reply.get("plugindata", {}).get("data", {})
        if "error_code" in data:
            raise JanusError(data["error_code"], data.get("error", "plugin error"))
        return data

    def _setup_janus(self) -> None:
        t, env = self.target, self.env
        self._relay = Relay(env.address, env.ports, SOCKETS)
        self._janus = JanusHttp(t.janus_url, api_secret=env.janus_api_secret, timeout=10)
        self._janus.create()
        for plugin in (AUDIOBRIDGE, STREAMING, VIDEOROOM):
            self._handles[plugin] = self._janus.attach(plugin)
        # the phone's audio: a plain-RTP participant of the room's AudioBridge, in G.711 u-law
        self._janus.message(self._handles[AUDIOBRIDGE], {
            "request": "join", "room": t.room, "pin": t.pin, "display": t.display, "codec": "pcmu",
            "rtp": {"ip": env.address, "port": self._relay.port("janus_audio"), "payload_type": sdp.AUDIO_PT}})
        joined = self._janus.wait_for_plugin_event(lambda d: d.get("audiobridge") == "joined", 10)
        self._audio_id = int(joined.get("id", 0))
        self._listeners = {int(p["id"]) for p in joined.get("participants", []) or []} - {self._audio_id}
        janus_rtp = joined.get("rtp") or {}
        self._relay.route("phone_audio", "janus_audio", (janus_rtp["ip"], int(janus_rtp["port"])), sdp.AUDIO_PT)
        # the phone's video: a Streaming mountpoint the browsers watch, numbered like the room
        try:
            self._message(STREAMING, {"request": "destroy", "id": t.room, "admin_key": env.janus_room_key})
        except JanusError:
            pass  # none left over
        created = self._message(STREAMING, {
            "request": "create", "type": "rtp", "id": t.room, "pin": t.pin, "admin_key": env.janus_room_key,
            "description": f"video phone {t.room}", "permanent": False,
            "media": [{"type": "video", "mid": "v", "port": 0, "rtcpport": 0, "pt": sdp.VIDEO_PT, "codec": "h264",
                       "fmtp": sdp.H264_FMTP}]})
        mount = created["stream"]["ports"][0]
        self._relay.route("phone_video", "janus_mount", (janus_rtp["ip"], int(mount["port"])), sdp.VIDEO_PT)
        if mount.get("rtcp_port"):  # the phone's reports to the mountpoint, so Janus learns where to send PLIs
            self._relay.route("phone_video_rtcp", "janus_mount_rtcp", (janus_rtp["ip"], int(mount["rtcp_port"])))

    def _call_phone(self) -> None:
        t, env = self.target, self.env
        self._agent = UserAgent(env.registrar[0], env.registrar[1], env.sip_domain, t.caller, t.password,
                                local_address=env.address)
        self._agent.on_bye = self._on_bye
        offer = sdp.offer(env.address, self._relay.port("phone_audio"), self._relay.port("phone_video"),
                          secrets.randbelow(10**9))
        call = self._agent.call(t.callee, timeout=self.env.ring_seconds, offer=offer, display=t.display,
                                cancel=self._hangup)
        self._sip = call
        if not call.answered:
            self.state, self.reason = "failed", f"{call.status} {call.reason}"
            return
        audio = sdp.accepted(call.remote_sdp, "audio", "PCMU")
        if audio is None:
            self.state, self.reason = "failed", "the phone's answer has no G.711 u-law audio"
            return
        self._relay.route("janus_audio", "phone_audio", audio[0], audio[1])
        video = sdp.accepted(call.remote_sdp, "video", "H264")
        if video is not None:
            self._relay.route("janus_video", "phone_video", video[0], video[1])
            # keyframe requests both ways: the mountpoint's PLI and the forwarder's reports to the phone, the
            # phone's PLI/FIR to the forwarder (whose address its own RTCP tells)
            phone_rtcp = sdp.rtcp_of(call.remote_sdp, "video")
            self._relay.route("janus_mount_rtcp", "phone_video_rtcp", phone_rtcp)
            self._relay.route("janus_video_rtcp", "phone_video_rtcp", phone_rtcp)
            self._relay.route("phone_video_rtcp", "janus_video_rtcp", self._relay.latched("janus_video_rtcp"))
        self._relay.start()
        self.state, self.answered_at = "answered", time.time()
        log.info("conference %s: %s answered (video %s)", t.room, t.callee, "yes" if video else "no")

    def _on_bye(self, message: SipMessage) -> bool:
        if self._sip is not None and message.call_id == self._sip.call_id:
            self.reason = "the phone hung up"
            self._sip.status = 0  # nothing to hang up any more
            self._hangup.set()
            return True
        return False

    def _publishers(self, joined: dict) -> dict[int, str]:
        """Publisher id -> the mid of its video stream."""
        out = {}
        for publisher in joined.get("publishers", []) or []:
            for stream in publisher.get("streams", []) or []:
                if stream.get("type") == "video" and not stream.get("disabled"):
                    out[int(publisher["id"])] = str(stream["mid"])
                    break
        return out

    def _forward(self, publishers: dict[int, str]) -> None:
        """The selected browser's video (the one that called, else the first) to the phone."""
        if not publishers or (self.forwarded in publishers):
            return
        chosen = self.target.publisher if self.target.publisher in publishers else next(iter(publishers))
        self._message(VIDEOROOM, {
            "request": "rtp_forward", "room": self.target.room, "publisher_id": chosen,
            "admin_key": self.env.janus_room_key, "host": self.env.address,
            "streams": [{"mid": publishers[chosen], "port": self._relay.port("janus_video"),
                         "rtcp_port": self._relay.port("janus_video_rtcp")}]})
        self.forwarded = chosen

    def _in_call(self) -> None:
        t = self.target
        self._janus.message(self._handles[VIDEOROOM], {"request": "join", "ptype": "publisher", "room": t.room,
                                                       "pin": t.pin, "display": t.display})
        joined = self._janus.wait_for_plugin_event(lambda d: d.get("videoroom") == "joined", 10)
        publishers = self._publishers(joined)
        self._forward(publishers)
        events = threading.Thread(target=self._watch_room, args=(publishers,), daemon=True)
        events.start()
        while not self._hangup.wait(20):
            self._janus.keepalive()

    def _watch_room(self, publishers: dict[int, str]) -> None:
        """Follow the room: when the forwarded publisher leaves, forward another; when the rooms are destroyed
        (the link was revoked) or the last page has left the audio bridge, hang up."""
        if not self._listeners:
            self._end("everyone left the conference")
        while not self._hangup.is_set():
            try:
                batch = self._janus.events(max_events=10, timeout=35)
            except (OSError, JanusError):
                time.sleep(1)
                continue
            for event in batch:
                data = event.get("plugindata", {}).get("data", {})
                if "audiobridge" in data:
                    self._follow_listeners(data)
                    continue
                if data.get("videoroom") == "destroyed":
                    self._end("the conference was closed")
                if data.get("videoroom") != "event":
                    continue
                publishers.update(self._publishers(data))
                gone = data.get("unpublished") or data.get("leaving")
                if isinstance(gone, int):
                    publishers.pop(gone, None)
                    if gone == self.forwarded:
                        self.forwarded = None
                try:
                    self._forward(publishers)
                except JanusError as error:
                    log.warning("conference %s: forwarding failed: %s", self.target.room, error)

    def _follow_listeners(self, data: dict) -> None:
        if data.get("audiobridge") == "destroyed":
            self._end("the conference was closed")
            return
        self._listeners |= {int(p["id"]) for p in data.get("participants", []) or [] if "id" in p} - {self._audio_id}
        if isinstance(data.get("leaving"), int):
            self._listeners.discard(data["leaving"])
            if not self._listeners:
                self._end("everyone left the conference")

    def _end(self, reason: str) -> None:
        if not self._hangup.is_set():
            self.reason = reason
            log.info("conference %s: %s: hanging up", self.target.room, reason)
            self._hangup.set()

    def _teardown(self) -> None:
        if self._sip is not None and self._sip.answered:
            try:
                self._sip.hangup()
            except OSError:
                pass
        if self._agent is not None:
            self._agent.close()
        if self._relay is not None:
            self._relay.close()
        if self._janus is not None and self._janus.session_id is not None:
            if STREAMING in self._handles:
                try:
                    self._message(STREAMING, {"request": "destroy", "id": self.target.room,
                                              "admin_key": self.env.janus_room_key})
                except (JanusError, OSError):
                    pass
            self._janus.destroy()  # leaves the AudioBridge and the VideoRoom, stops the forwarder
