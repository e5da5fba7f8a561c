"""The voicemail service's SIP side (RFC 3261 as a UAS over UDP): INVITEs from the registrars only, answered at
once with G.711 (what the offer lists first of PCMU and PCMA; rtpengine transcodes other codecs), the 200
repeated until its ACK, BYE both ways. Each call runs a Session in a thread and its message is stored."""

from __future__ import annotations

import logging
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field

from ..gateway.sdp import sections
from ..protocols.sip.message import SipMessage, SipParseError, parse, request, response_to
from . import audio
from .session import PAYLOAD_TYPES, Limits, Recording, Session
from .store import Mailbox, Store

log = logging.getLogger("rtcstack.voicemail")
T1, T2 = 0.5, 4.0
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS"
#: The tone after the greeting: speak now.
BEEP = audio.tone(1000, 0.4)


@dataclass
class Dialog:
    invite: SipMessage
    source: tuple[str, int]
    local_tag: str
    box: Mailbox
    response: SipMessage | None = None
    session: Session | None = None
    acked: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    bye_answered: threading.Event = field(default_factory=threading.Event)
    cseq: int = 1
    recording: Recording | None = None


class PortPool:
    """Even RTP ports of the service's range, each held by one call."""

    def __init__(self, first: int, last: int):
        self._free = list(range(first + first % 2, last, 2))
        self._lock = threading.Lock()

    def open(self, address: str) -> socket.socket:
        with self._lock:
            for _ in range(len(self._free)):
                port = self._free.pop(0)
                self._free.append(port)
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    sock.bind((address, port))
                    return sock
                except OSError:
                    sock.close()
        raise OSError("no free RTP port")


class VoicemailAgent:
    def __init__(self, address: str, port: int, registrars: set[str], store: Store, ports: PortPool,
                 limits: Limits, max_sessions: int):
        self.address, self.port, self.registrars = address, port, registrars
        self.store, self.ports, self.limits, self.max_sessions = store, ports, limits, max_sessions
        self.dialogs: dict[str, Dialog] = {}
        self.finished: list[Recording] = []
        self._lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((address, port))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="voicemail-sip")

    def start(self) -> None:
        self._thread.start()

    def active(self) -> int:
        with self._lock:
            return sum(1 for d in self.dialogs.values() if not d.ended.is_set())

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            dialogs = list(self.dialogs.values())
        for dialog in dialogs:
            if dialog.session:
                dialog.session.stop()
        for dialog in dialogs:
            dialog.ended.wait(5)
        self.sock.close()

    # --- receiving -----------------------------------------------------------------------------------------

    def _loop(self) -> None:
        self.sock.settimeout(0.5)
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                message = parse(data)
            except SipParseError as exc:
                log.debug("unparsable datagram from %s: %s", source, exc)
                continue
            try:
                self._dispatch(message, source)
            except Exception:  # one bad message never takes the service down
                log.exception("handling %s from %s", message.first_line, source)

    def _send(self, message: SipMessage, target: tuple[str, int]) -> None:
        try:
            self.sock.sendto(message.encode(), target)
        except OSError as exc:
            log.warning("sending to %s failed: %s", target, exc)

    def _reply(self, req: SipMessage, source: tuple[str, int], status: int, reason: str, tag: str | None = None,
               extra: list[tuple[str, str]] = (), body: bytes = b"") -> SipMessage:
        response = response_to(req, status, reason, tag or secrets.token_hex(4), list(extra), body)
        self._send(response, source)
        return response

    def _dispatch(self, message: SipMessage, source: tuple[str, int]) -> None:
        if not message.is_request:
            if message.cseq[1] == "BYE":
                with self._lock:
                    dialog = self.dialogs.get(message.call_id)
                if dialog:
                    dialog.bye_answered.set()
            return
        if source[0] not in self.registrars:
            if message.method != "ACK":
                self._reply(message, source, 403, "Only the registrars call voicemail")
            return
        with self._lock:
            dialog = self.dialogs.get(message.call_id)
        method = message.method
        if method == "INVITE":
            if dialog is None:
                self._invite(message, source)
            elif dialog.response is not None and message.tag("to") is None:
                self._send(dialog.response, source)  # a retransmission
            else:  # a re-INVITE: the same media
                self._reply(message, source, 200, "OK", dialog.local_tag, self._contact() + [
                    ("Content-Type", "application/sdp")], dialog.response.body if dialog.response else b"")
        elif method == "ACK":
            if dialog:
                dialog.acked.set()
        elif method == "BYE":
            self._reply(message, source, 200 if dialog else 481, "OK" if dialog else "Call Does Not Exist",
                        dialog.local_tag if dialog else None)
            if dialog and dialog.session:
                dialog.session.stop()
        elif method == "CANCEL":
            self._reply(message, source, 200 if dialog else 481, "OK" if dialog else "Call Does Not Exist")
        elif method == "OPTIONS":
            self._reply(message, source, 200, "OK", extra=[("Allow", ALLOW)])
        else:
            self._reply(message, source, 405, "Method Not Allowed", extra=[("Allow", ALLOW)])

    # --- answering -----------------------------------------------------------------------------------------

    def _contact(self) -> list[tuple[str, str]]:
        return [("Contact", f"<sip:voicemail@{self.address}:{self.port}>")]

    def _invite(self, invite: SipMessage, source: tuple[str, int]) -> None:
        user = re.match(r"sips?:([^@;>]+)@", invite.uri or "")
        box = self.store.mailbox(user[1]) if user else None
        if box is None or not box.enabled:
            self._reply(invite, source, 404, "No voicemail box for this account")
            return
        if self.active() >= self.max_sessions:
            self._reply(invite, source, 503, "Voicemail is busy", extra=[("Retry-After", "10")])
            return
        offer = next((m for m in sections(invite.body) if m.kind == "audio" and m.port), None)
        codec = None
        if offer is not None:
            for pt in offer.formats:
                name = offer.names.get(pt, {0: "PCMU", 8: "PCMA"}.get(pt, "")).upper()
                if name in PAYLOAD_TYPES:
                    codec, payload_type = name, pt
                    break
        if codec is None:
            self._reply(invite, source, 488, "Not Acceptable Here: G.711 (PCMU or PCMA) only")
            return
        try:
            sock = self.ports.open(self.address)
        except OSError:
            self._reply(invite, source, 503, "Voicemail is busy", extra=[("Retry-After", "10")])
            return
        dialog = Dialog(invite, source, secrets.token_hex(4), box)
        prompt = self.store.greeting(box) + BEEP
        session = Session(sock, (offer.address, offer.port), codec, payload_type, prompt, self.limits)
        dialog.session = session
        port = sock.getsockname()[1]
        session_id = secrets.randbelow(2**31)
        answer = (f"v=0\r\no=rtcstack-voicemail {session_id} {session_id} IN IP4 {self.address}\r\n"
                  f"s=rtcstack voicemail\r\nc=IN IP4 {self.address}\r\nt=0 0\r\n"
                  f"m=audio {port} RTP/AVP {payload_type}\r\na=rtpmap:{payload_type} {codec}/8000\r\n"
                  f"a=ptime:20\r\na=sendrecv\r\n").encode()
        with self._lock:
            self.dialogs[invite.call_id] = dialog
        dialog.response = self._reply(invite, source, 200, "OK", dialog.local_tag,
                                      self._contact() + [("Content-Type", "application/sdp")], answer)
        threading.Thread(target=self._repeat_ok, args=(dialog,), daemon=True).start()
        threading.Thread(target=self._run, args=(dialog,), daemon=True, name=f"voicemail-{box.username}").start()

    def _repeat_ok(self, dialog: Dialog) -> None:
        interval, deadline = T1, time.monotonic() + 64 * T1
        target = dialog.source  # RFC 3581: answer where the request came from
        while not dialog.acked.wait(interval) and not dialog.ended.is_set() and time.monotonic() < deadline:
            self._send(dialog.response, target)
            interval = min(interval * 2, T2)

    def _run(self, dialog: Dialog) -> None:
        recording = dialog.session.run()
        dialog.recording = recording
        try:
            if recording.reason in ("silence", "maximum length", "no media"):
                self._bye(dialog)
            if dialog.session.kept():
                message_id = self.store.save(dialog.box, caller_of(dialog.invite), dialog.invite.call_id,
                                             recording.samples)
                log.info("message %s for %s: %.1f s, ended by %s, %.1f %% lost", message_id, dialog.box.username,
                         recording.seconds, recording.reason, recording.loss_percent)
            else:
                log.info("no message for %s: nothing said (%s)", dialog.box.username, recording.reason)
        except Exception:
            log.exception("storing the message for %s", dialog.box.username)
        finally:
            dialog.ended.set()
            with self._lock:
                self.finished.append(recording)
                del self.finished[:-1000]
                self.dialogs.pop(dialog.invite.call_id, None)

    def _bye(self, dialog: Dialog) -> None:
        """End the call from our side: along the Record-Route set, to the caller's Contact."""
        invite = dialog.invite
        routes = [r.strip() for rr in invite.get_all("record-route") for r in rr.split(",")]
        contact = invite.get("contact") or ""
        target = contact[contact.find("<") + 1: contact.find(">")] if "<" in contact else contact.strip()
        branch = "z9hG4bK" + secrets.token_hex(8)
        dialog.cseq += 1
        headers = [("Via", f"SIP/2.0/UDP {self.address}:{self.port};branch={branch};rport"), ("Max-Forwards", "70"),
                   ("From", f"{invite.get('to')};tag={dialog.local_tag}"), ("To", invite.get("from") or ""),
                   ("Call-ID", invite.call_id), ("CSeq", f"{dialog.cseq} BYE")] + [("Route", r) for r in routes]
        bye = request("BYE", target or f"sip:{dialog.source[0]}:{dialog.source[1]}", headers)
        hop = _hop(routes[0]) if routes else dialog.source
        interval = T1
        for _ in range(6):
            self._send(bye, hop)
            if dialog.bye_answered.wait(interval):
                return
            interval = min(interval * 2, T2)


def caller_of(invite: SipMessage) -> str:
    """`"Display" <sip:user@...>` as `Display <user>`, or the user alone."""
    header = invite.get("from") or ""
    user = re.search(r"sips?:([^@;>]+)", header)
    display = re.match(r'\s*"([^"]*)"', header) or re.match(r"\s*([^<\"]+?)\s*<", header)
    name = user[1] if user else "unknown"
    return f"{display[1].strip()} <{name}>" if display and display[1].strip() else name


def _hop(route: str) -> tuple[str, int]:
    match = re.search(r"sips?:(?:[^@;>]+@)?([^;>:]+)(?::(\d+))?", route)
    return (match[1], int(match[2] or 5060)) if match else ("127.0.0.1", 5060)
