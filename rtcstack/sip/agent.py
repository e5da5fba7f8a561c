"""A SIP user agent over UDP with real RTP: registers, calls, answers; one receive thread per agent.

Blocking API for tests and tools: `register()`, `call()` -> Call, `Call.hangup()`. Incoming INVITEs are
answered by the agent (200 with SDP, or a configured refusal), and media is G.711 PCMU at 20 ms.
"""

from __future__ import annotations

import random
import secrets
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from queue import Empty, Queue

from . import digest
from .message import SipMessage, SipParseError, parse, request, response_to

T1 = 0.5


def local_address_towards(host: str, port: int) -> str:
    """The address of this machine that reaches host (what a peer sees as our source)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect((host, port))
        return probe.getsockname()[0]
    finally:
        probe.close()


def sdp_offer(address: str, port: int, session: int) -> bytes:
    return (f"v=0\r\no=rtcstack {session} {session} IN IP4 {address}\r\ns=rtcstack\r\nc=IN IP4 {address}\r\n"
            f"t=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
            f"a=ptime:20\r\na=sendrecv\r\n").encode()


def sdp_media(body: bytes) -> tuple[str, int] | None:
    """(connection address, audio port) of an SDP body."""
    address, port = None, None
    for line in body.decode(errors="replace").splitlines():
        if line.startswith("c=IN IP4 "):
            address = address or line.split()[2]
        elif line.startswith("m=audio "):
            port = int(line.split()[1])
            for later in body.decode(errors="replace").split(line, 1)[1].splitlines():
                if later.startswith("c=IN IP4 "):
                    address = later.split()[2]
                    break
                if later.startswith("m="):
                    break
    return (address, port) if address and port else None


class RtpStream:
    """One RTP endpoint: sends PCMU every 20 ms to the peer, counts what arrives."""

    def __init__(self, address: str):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self.sent = 0
        self.sources: set[tuple[str, int]] = set()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, peer: tuple[str, int], seconds: float) -> None:
        self._threads = [threading.Thread(target=self._send, args=(peer, seconds), daemon=True),
                         threading.Thread(target=self._receive, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _send(self, peer: tuple[str, int], seconds: float) -> None:
        ssrc, seq, ts = random.getrandbits(32), random.getrandbits(16), random.getrandbits(32)
        payload = b"\xff" * 160
        start = time.monotonic()
        while not self._stop.is_set() and time.monotonic() - start < seconds:
            header = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
            self.sock.sendto(header + payload, peer)
            self.sent += 1
            seq, ts = seq + 1, ts + 160
            time.sleep(max(0.0, start + self.sent * 0.02 - time.monotonic()))

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(2048)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            if len(data) >= 12 and data[0] >> 6 == 2:
                self.received += 1
                self.sources.add(source)

    def wait_sent(self) -> None:
        if self._threads:
            self._threads[0].join()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=1)
        self.sock.close()


@dataclass
class Call:
    agent: UserAgent
    call_id: str
    status: int
    reason: str
    local_tag: str
    remote_target: str | None = None
    remote_tag: str | None = None
    route_set: list[str] = field(default_factory=list)
    remote_sdp: bytes = b""
    rtp: RtpStream | None = None
    setup_seconds: float = 0.0
    cseq: int = 1
    to_header: str = ""
    from_header: str = ""

    @property
    def answered(self) -> bool:
        return 200 <= self.status < 300

    def hangup(self) -> SipMessage | None:
        if not self.answered:
            return None
        self.cseq += 1
        headers = [("From", self.from_header), ("To", self.to_header), ("Call-ID", self.call_id),
                   ("CSeq", f"{self.cseq} BYE")] + [("Route", r) for r in self.route_set]
        final = self.agent.transaction("BYE", self.remote_target, headers)
        if self.rtp:
            self.rtp.close()
        return final


@dataclass
class IncomingCall:
    """A call the agent answered (or refused), as the callee saw it."""

    invite: SipMessage
    answered: bool
    rtp: RtpStream | None = None
    ended: threading.Event = field(default_factory=threading.Event)


class UserAgent:
    def __init__(self, registrar: str, port: int, domain: str, username: str, password: str,
                 local_address: str | None = None, rtp_seconds: float = 0.0):
        self.registrar, self.port, self.domain = registrar, port, domain
        self.username, self.password = username, password
        self.address = local_address or local_address_towards(registrar, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((self.address, 0))
        self.sock.settimeout(0.1)
        self.local_port = self.sock.getsockname()[1]
        self.contact = f"<sip:{username}@{self.address}:{self.local_port}>"
        self.rtp_seconds = rtp_seconds
        self.refuse_with: tuple[int, str] | None = None
        self.incoming: list[IncomingCall] = []
        self.options_received = 0
        self._waiting: dict[str, Queue] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        self._cseq = random.randint(1, 10000)

    # --- transport ---------------------------------------------------------------------------

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for call in self.incoming:
            if call.rtp:
                call.rtp.close()
        self.sock.close()

    def __enter__(self) -> UserAgent:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, message: SipMessage, target: tuple[str, int] | None = None) -> None:
        self.sock.sendto(message.encode(), target or (self.registrar, self.port))

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self.sock.recvfrom(65535)
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            try:
                message = parse(data)
            except SipParseError:
                continue
            if message.is_request:
                self._serve(message, source)
            else:
                branch = _branch(message.get("via") or "")
                queue = self._waiting.get(branch)
                if queue:
                    queue.put(message)

    # --- client transactions -----------------------------------------------------------------

    def transaction(self, method: str, uri: str, headers: list[tuple[str, str]], body: bytes = b"",
                    timeout: float = 8.0, on_provisional=None) -> SipMessage | None:
        """Send a request, retransmit on Timer A until a response, return the final response (None on timeout)."""
        branch = "z9hG4bK" + secrets.token_hex(8)
        via = ("Via", f"SIP/2.0/UDP {self.address}:{self.local_port};rport;branch={branch}")
        message = request(method, uri, [via, ("Max-Forwards", "70")] + headers +
                          ([("Content-Type", "application/sdp")] if body else []), body)
        queue: Queue = Queue()
        self._waiting[branch] = queue
        try:
            interval, next_send, deadline, provisional = T1, 0.0, time.monotonic() + timeout, False
            while time.monotonic() < deadline:
                now = time.monotonic()
                if not provisional and now >= next_send:
                    self.send(message)
                    next_send, interval = now + interval, min(interval * 2, 4.0)
                try:
                    reply = queue.get(timeout=0.05)
                except Empty:
                    continue
                if reply.status < 200:
                    provisional = True
                    if on_provisional:
                        on_provisional(reply)
                    continue
                if method == "INVITE" and reply.status >= 300:
                    self._ack_failure(message, reply, via)
                return reply
            return None
        finally:
            self._waiting.pop(branch, None)

    def _ack_failure(self, invite: SipMessage, reply: SipMessage, via: tuple[str, str]) -> None:
        headers = [via, ("Max-Forwards", "70"), ("From", invite.get("from")), ("To", reply.get("to")),
                   ("Call-ID", invite.call_id), ("CSeq", f"{invite.cseq[0]} ACK")]
        self.send(request("ACK", invite.uri, headers))

    def _next_cseq(self) -> int:
        self._cseq += 1
        return self._cseq

    def _authenticated(self, method: str, uri: str, headers: list[tuple[str, str]], body: bytes = b"",
                       timeout: float = 8.0) -> tuple[SipMessage | None, list[tuple[str, str]]]:
        reply = self.transaction(method, uri, headers, body, timeout)
        if reply is not None and reply.status in (401, 407):
            name = "WWW-Authenticate" if reply.status == 401 else "Proxy-Authenticate"
            answer = "Authorization" if reply.status == 401 else "Proxy-Authorization"
            challenge = digest.parse_challenge(reply.get(name) or "")
            headers = [(k, v if k != "CSeq" else f"{self._next_cseq()} {method}") for k, v in headers]
            headers.append((answer, digest.authorization(challenge, method, uri, self.username, self.password)))
            reply = self.transaction(method, uri, headers, body, timeout)
        return reply, headers

    # --- requests ----------------------------------------------------------------------------

    def register(self, expires: int = 300) -> SipMessage | None:
        aor = f"sip:{self.username}@{self.domain}"
        headers = [("From", f"<{aor}>;tag={secrets.token_hex(4)}"), ("To", f"<{aor}>"),
                   ("Call-ID", f"reg-{self.username}-{self.local_port}@{self.address}"),
                   ("CSeq", f"{self._next_cseq()} REGISTER"), ("Contact", self.contact), ("Expires", str(expires))]
        reply, _ = self._authenticated("REGISTER", f"sip:{self.domain}", headers)
        return reply

    def call(self, target: str, timeout: float = 10.0) -> Call:
        """INVITE sip:target@domain; on 200 send ACK and start RTP for rtp_seconds (if any)."""
        uri = f"sip:{target}@{self.domain}"
        tag = secrets.token_hex(4)
        call_id = f"{secrets.token_hex(8)}@{self.address}"
        rtp = RtpStream(self.address)
        from_header = f"<sip:{self.username}@{self.domain}>;tag={tag}"
        headers = [("From", from_header), ("To", f"<{uri}>"), ("Call-ID", call_id),
                   ("CSeq", f"{self._next_cseq()} INVITE"), ("Contact", self.contact)]
        started = time.monotonic()
        reply, headers = self._authenticated("INVITE", uri, headers, sdp_offer(self.address, rtp.port, 1), timeout)
        if reply is None:
            rtp.close()
            return Call(self, call_id, 408, "No answer (timeout)", tag)
        call = Call(self, call_id, reply.status, reply.reason, tag, setup_seconds=time.monotonic() - started,
                    from_header=from_header, to_header=reply.get("to") or "", cseq=int(dict(headers)["CSeq"].split()[0]))
        if not call.answered:
            rtp.close()
            return call
        contact = reply.get("contact") or ""
        call.remote_target = contact[contact.find("<") + 1: contact.find(">")] if "<" in contact else contact
        call.route_set = list(reversed([r.strip() for rr in reply.get_all("record-route") for r in rr.split(",")]))
        call.remote_tag, call.remote_sdp = reply.tag("to"), reply.body
        ack = [("Via", f"SIP/2.0/UDP {self.address}:{self.local_port};rport;branch=z9hG4bK{secrets.token_hex(8)}"),
               ("Max-Forwards", "70"), ("From", from_header), ("To", call.to_header), ("Call-ID", call_id),
               ("CSeq", f"{call.cseq} ACK")] + [("Route", r) for r in call.route_set]
        self.send(request("ACK", call.remote_target, ack))
        media = sdp_media(reply.body)
        call.rtp = rtp
        if media and self.rtp_seconds:
            rtp.start(media, self.rtp_seconds)
        return call

    # --- server side -------------------------------------------------------------------------

    def _serve(self, message: SipMessage, source: tuple[str, int]) -> None:
        via = message.get("via") or ""
        target = source
        if message.method == "OPTIONS":
            self.options_received += 1
            self.send(response_to(message, 200, "OK", secrets.token_hex(4)), target)
        elif message.method == "INVITE":
            if any(c.invite.call_id == message.call_id for c in self.incoming):
                return  # a retransmission: the 200 is retransmitted by the proxy's transaction anyway
            if self.refuse_with:
                self.incoming.append(IncomingCall(message, False))
                self.send(response_to(message, *self.refuse_with, secrets.token_hex(4)), target)
                return
            rtp = RtpStream(self.address)
            self.incoming.append(IncomingCall(message, True, rtp))
            answer = sdp_offer(self.address, rtp.port, 2)
            self.send(response_to(message, 200, "OK", secrets.token_hex(4),
                                  [("Contact", self.contact), ("Content-Type", "application/sdp")], answer), target)
            media = sdp_media(message.body)
            if media and self.rtp_seconds:
                rtp.start(media, self.rtp_seconds)
        elif message.method == "BYE":
            self.send(response_to(message, 200, "OK"), target)
            for call in self.incoming:
                if call.invite.call_id == message.call_id:
                    call.ended.set()
        elif message.method in ("ACK",):
            return
        elif via:
            self.send(response_to(message, 405, "Method Not Allowed"), target)


def _branch(via: str) -> str:
    for part in via.split(";"):
        if part.strip().startswith("branch="):
            return part.strip()[7:]
    return ""
