"""A SIP user agent over UDP or TCP with real RTP: registers, calls, cancels, answers.

Blocking API for tests, tools and Locust users: `register()`, `options()`, `call()` -> Call,
`Call.hangup()`. Client transactions follow RFC 3261 17.1: over UDP, requests are retransmitted on
Timer A/E (T1 doubling; non-INVITE capped at T2) until Timer B/F (64*T1); over TCP nothing is
retransmitted. The UAS side answers INVITEs (after a ringing delay if asked, 200 with SDP, or a set
refusal), CANCEL (487), BYE and OPTIONS. Media is G.711 PCMU at 20 ms (`rtcstack.rtp`).
One receive thread per agent: under Locust, gevent makes it a greenlet.
"""

from __future__ import annotations

import queue as queues
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..rtp import RtpStream
from . import digest
from .identifiers import token_hex
from .message import SipMessage, SipParseError, parse, request, response_to
from .transport import T1, T2, local_address_towards, open_transport

__all__ = ["Call", "IncomingCall", "UserAgent", "local_address_towards", "sdp_media", "sdp_offer"]


def sdp_offer(address: str, port: int, session: int) -> bytes:
    return (f"v=0\r\no=rtcstack {session} {session} IN IP4 {address}\r\ns=rtcstack\r\nc=IN IP4 {address}\r\n"
            f"t=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
            f"a=ptime:20\r\na=sendrecv\r\n").encode()


def sdp_media(body: bytes) -> tuple[str, int] | None:
    """(connection address, audio port) of an SDP body."""
    address, port = None, None
    lines = body.decode(errors="replace").splitlines()
    for n, line in enumerate(lines):
        if line.startswith("c=IN IP4 "):
            address = address or line.split()[2]
        elif line.startswith("m=audio "):
            port = int(line.split()[1])
            for later in lines[n + 1:]:  # the audio section's own c= line, if it has one, wins
                if later.startswith("c=IN IP4 "):
                    address = later.split()[2]
                    break
                if later.startswith("m="):
                    break
    return (address, port) if address and port else None


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
    cancelled: bool = False

    @property
    def answered(self) -> bool:
        return 200 <= self.status < 300

    def hangup(self) -> SipMessage | None:
        """BYE along the route set; the RTP stream is closed first, as a phone stops its media when it hangs up
        (its figures stay readable): the relay frees the call's ports on the BYE and may give them to another
        call at once."""
        if not self.answered:
            return None
        if self.rtp:
            self.rtp.close()
        self.cseq += 1
        headers = [("From", self.from_header), ("To", self.to_header), ("Call-ID", self.call_id),
                   ("CSeq", f"{self.cseq} BYE")] + [("Route", r) for r in self.route_set]
        return self.agent.transaction("BYE", self.remote_target, headers)


@dataclass
class IncomingCall:
    """A call the agent answered (or refused, or had cancelled), as the callee saw it."""

    invite: SipMessage
    answered: bool
    rtp: RtpStream | None = None
    ended: threading.Event = field(default_factory=threading.Event)
    acked: threading.Event = field(default_factory=threading.Event)
    local_tag: str = field(default_factory=lambda: token_hex(4))
    cancelled: bool = False
    last_response: SipMessage | None = None
    cseq: int = field(default_factory=lambda: random.randint(1, 10000))
    #: time.monotonic() when the INVITE arrived (when this device started to ring).
    received_at: float = field(default_factory=time.monotonic)

    def hangup(self, agent: UserAgent) -> SipMessage | None:
        """The callee's BYE: Record-Route in order as the route set, the caller's Contact as target."""
        if not self.answered:
            return None
        contact = self.invite.get("contact") or ""
        target = contact[contact.find("<") + 1: contact.find(">")] if "<" in contact else contact
        to_header = self.invite.get("to") or ""
        self.cseq += 1
        headers = [("From", f"{to_header};tag={self.local_tag}"), ("To", self.invite.get("from") or ""),
                   ("Call-ID", self.invite.call_id), ("CSeq", f"{self.cseq} BYE")]
        headers += [("Route", r.strip()) for rr in self.invite.get_all("record-route") for r in rr.split(",")]
        if self.rtp:  # (before the BYE: see Call.hangup)
            self.rtp.close()
        final = agent.transaction("BYE", target, headers)
        self.ended.set()
        return final


class UserAgent:
    def __init__(self, registrar: str, port: int, domain: str, username: str, password: str,
                 local_address: str | None = None, rtp_seconds: float = 0.0, transport: str = "udp",
                 answer_after: float = 0.0, t1: float = T1):
        self.registrar, self.port, self.domain = registrar, port, domain
        self.username, self.password = username, password
        self.address = local_address or local_address_towards(registrar, port)
        self.transport = open_transport(transport, self.address, (registrar, port))
        self.local_port = self.transport.port
        suffix = ";transport=tcp" if self.transport.reliable else ""
        self.contact = f"<sip:{username}@{self.address}:{self.local_port}{suffix}>"
        self.rtp_seconds = rtp_seconds
        self.answer_after = answer_after
        self.t1 = t1
        self.refuse_with: tuple[int, str] | None = None
        #: The reason phrase of this agent's 200 to a call (RFC 3261 allows any UTF-8 text).
        self.answer_reason = "OK"
        #: Answers calls with this SDP (given the INVITE) instead of the agent's own G.711 stream.
        self.answer_with: Callable[[SipMessage], bytes] | None = None
        #: Told of a BYE for a call this agent made; True: the call was one of its own (answered 200).
        self.on_bye: Callable[[SipMessage], bool] | None = None
        self.incoming: list[IncomingCall] = []
        self.options_received = 0
        #: Where the OPTIONS (keepalives) came from: addresses.
        self.options_sources: set[str] = set()
        self._waiting: dict[str, _Waiting] = {}
        #: 200s to INVITEs waiting for their ACK (UDP), repeated by the reader itself: [due, interval, give up at,
        #: call, source] by Call-ID. No thread per answered call; the reader waits no longer than the next due.
        self._unacked: dict[str, list] = {}
        self._repeat_armed = False  # the transport's wait is set to a due repeat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name=f"sip-{username}")
        self._thread.start()
        self._cseq = random.randint(1, 10000)

    # --- transport ---------------------------------------------------------------------------

    def close(self) -> None:
        self._stop.set()
        self.transport.close()
        self._thread.join(timeout=2)
        for call in self.incoming:
            if call.rtp:
                call.rtp.close()

    def __enter__(self) -> UserAgent:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, message: SipMessage, target: tuple[str, int] | None = None) -> None:
        self.transport.send(message.encode(), target)

    def responses_to(self, branch: str) -> queues.SimpleQueue:
        """Where the responses to a request sent by hand (`send()`) with this Via branch go, every one of them."""
        waiting = _Waiting("", quiet=False)
        self._waiting[branch] = waiting
        return waiting.queue

    def _via(self, branch: str) -> tuple[str, str]:
        return ("Via", f"SIP/2.0/{self.transport.name} {self.address}:{self.local_port};rport;branch={branch}")

    def _loop(self) -> None:
        while not self._stop.is_set():
            if self._unacked or self._repeat_armed:
                self._repeat_due()
            try:
                arrived = self.transport.receive()
            except OSError:
                return
            for data, source in arrived:
                try:
                    message = parse(data)
                except SipParseError:
                    continue
                if message.is_request:
                    self._serve(message, source)
                else:
                    waiting = self._waiting.get(_branch(message.get("via") or ""))
                    if waiting is None:
                        continue
                    if waiting.quiet and message.status < 200 and message.cseq[1] == waiting.method:
                        waiting.provisional = True  # all the transaction needs to know: no wake-up for it
                    else:
                        waiting.queue.put(message)

    # --- client transactions -----------------------------------------------------------------

    def transaction(self, method: str, uri: str, headers: list[tuple[str, str]], body: bytes = b"",
                    timeout: float | None = None, on_provisional=None,
                    cancel: threading.Event | None = None) -> SipMessage | None:
        """Send a request and return its final response, or None when Timer B/F (64*T1) fires first.

        Over UDP the request is retransmitted: INVITE at T1, 2*T1, 4*T1... until a provisional
        response; other requests at T1 doubling up to T2, then every T2. When `cancel` is set after a
        provisional response, a CANCEL goes out and the INVITE's final answer (487) is returned.
        """
        branch = "z9hG4bK" + token_hex(8)
        via = self._via(branch)
        message = request(method, uri, [via, ("Max-Forwards", "70")] + headers +
                          ([("Content-Type", "application/sdp")] if body else []), body)
        waiting = _Waiting(method, on_provisional is None)
        queue = waiting.queue
        self._waiting[branch] = waiting
        retransmit = not self.transport.reliable
        try:
            interval, deadline, provisional = self.t1, time.monotonic() + (timeout or 64 * self.t1), False
            self.send(message)
            next_send = time.monotonic() + interval
            cancel_sent: SipMessage | None = None
            while (now := time.monotonic()) < deadline:
                provisional = provisional or waiting.provisional  # (a 1xx the reader took for us)
                resending = retransmit and not (provisional and method == "INVITE")
                if resending and now >= next_send:
                    self.send(message)
                    interval = min(interval * 2, T2) if method != "INVITE" else interval * 2
                    next_send = now + (T2 if provisional else interval)
                if cancel is not None and cancel.is_set() and provisional and cancel_sent is None:
                    cancel_sent = self._cancel(message, via)
                # Wait for the next answer, no longer than the next retransmission or the deadline (and, while a
                # cancel may still come, 50 ms: the Event is polled); not a wake-up every 50 ms.
                wait = deadline - now
                if resending:
                    wait = min(wait, next_send - now)
                if cancel is not None and cancel_sent is None:
                    wait = min(wait, 0.05)
                try:
                    reply = queue.get(timeout=max(wait, 0.0))
                except queues.Empty:
                    continue
                if reply.cseq[1] != method:  # the answer to our CANCEL
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

    def _cancel(self, invite: SipMessage, via: tuple[str, str]) -> SipMessage:
        """CANCEL (RFC 3261 9.1): same Request-URI, Via branch, Call-ID, From, To, Route and CSeq number."""
        headers = [via, ("Max-Forwards", "70"), ("From", invite.get("from")), ("To", invite.get("to")),
                   ("Call-ID", invite.call_id), ("CSeq", f"{invite.cseq[0]} CANCEL")]
        headers += [("Route", r) for r in invite.get_all("route")]
        cancel = request("CANCEL", invite.uri, headers)
        self.send(cancel)
        return cancel

    def _ack_failure(self, invite: SipMessage, reply: SipMessage, via: tuple[str, str]) -> None:
        headers = [via, ("Max-Forwards", "70"), ("From", invite.get("from")), ("To", reply.get("to")),
                   ("Call-ID", invite.call_id), ("CSeq", f"{invite.cseq[0]} ACK")]
        self.send(request("ACK", invite.uri, headers))

    def _next_cseq(self) -> int:
        self._cseq += 1
        return self._cseq

    def _authenticated(self, method: str, uri: str, headers: list[tuple[str, str]], body: bytes = b"",
                       timeout: float | None = None,
                       cancel: threading.Event | None = None) -> tuple[SipMessage | None, list[tuple[str, str]]]:
        reply = self.transaction(method, uri, headers, body, timeout, cancel=cancel)
        # A challenge is answered once; a second one marked stale (the nonce was good but is no longer known
        # there: a restarted registrar) is answered again with its fresh nonce, as RFC 2617 (3.2.1) says.
        for attempt in range(2):
            if reply is None or reply.status not in (401, 407):
                break
            name = "WWW-Authenticate" if reply.status == 401 else "Proxy-Authenticate"
            answer = "Authorization" if reply.status == 401 else "Proxy-Authorization"
            challenge = digest.parse_challenge(reply.get(name) or "")
            if attempt and challenge.get("stale", "").lower() != "true":
                break
            headers = [(k, v if k != "CSeq" else f"{self._next_cseq()} {method}") for k, v in headers
                       if k not in ("Authorization", "Proxy-Authorization")]
            headers.append((answer, digest.authorization(challenge, method, uri, self.username, self.password)))
            reply = self.transaction(method, uri, headers, body, timeout, cancel=cancel)
        return reply, headers

    # --- requests ----------------------------------------------------------------------------

    def register(self, expires: int = 300, timeout: float | None = None) -> SipMessage | None:
        aor = f"sip:{self.username}@{self.domain}"
        headers = [("From", f"<{aor}>;tag={token_hex(4)}"), ("To", f"<{aor}>"),
                   ("Call-ID", f"reg-{self.username}-{self.local_port}@{self.address}"),
                   ("CSeq", f"{self._next_cseq()} REGISTER"), ("Contact", self.contact), ("Expires", str(expires))]
        reply, _ = self._authenticated("REGISTER", f"sip:{self.domain}", headers, timeout=timeout)
        return reply

    def options(self, uri: str | None = None, timeout: float | None = None) -> SipMessage | None:
        """OPTIONS to the server (a keepalive/ping, answered by the registrar itself) or to `uri`."""
        uri = uri or f"sip:{self.domain}"
        headers = [("From", f"<sip:{self.username}@{self.domain}>;tag={token_hex(4)}"), ("To", f"<{uri}>"),
                   ("Call-ID", f"{token_hex(8)}@{self.address}"), ("CSeq", f"{self._next_cseq()} OPTIONS"),
                   ("Accept", "application/sdp")]
        return self.transaction("OPTIONS", uri, headers, timeout=timeout)

    def call(self, target: str, timeout: float | None = None, cancel_after: float | None = None,
             offer: bytes | None = None, display: str = "", cancel: threading.Event | None = None,
             acknowledge: bool = True) -> Call:
        """INVITE sip:target@domain; on 200 send ACK and start RTP for rtp_seconds (if any).

        With `cancel_after`, the call is cancelled that many seconds after the INVITE (once the callee
        rings): the result is the INVITE's 487 with `cancelled` set. With `offer` (an SDP body) the caller
        brings its own media: no RTP stream of the agent's, and the answer is `remote_sdp`. `display` is the
        From header's display name (what the callee's screen shows). Setting `cancel` cancels a ringing call.
        With `acknowledge=False` the answer gets no ACK (a caller that vanished once answered, or whose ACK was lost).
        """
        uri = f"sip:{target}@{self.domain}"
        tag = token_hex(4)
        call_id = f"{token_hex(8)}@{self.address}"
        rtp = RtpStream(self.address) if offer is None else _NoMedia()
        quoted = display.replace("\\", "").replace('"', "")
        from_header = (f'"{quoted}" ' if quoted else "") + f"<sip:{self.username}@{self.domain}>;tag={tag}"
        headers = [("From", from_header), ("To", f"<{uri}>"), ("Call-ID", call_id),
                   ("CSeq", f"{self._next_cseq()} INVITE"), ("Contact", self.contact)]
        if cancel_after is not None:
            cancel = cancel or threading.Event()
            threading.Timer(cancel_after, cancel.set).start()
        started = time.monotonic()
        body = offer if offer is not None else sdp_offer(self.address, rtp.port, 1)
        reply, headers = self._authenticated("INVITE", uri, headers, body, timeout, cancel=cancel)
        if reply is None:
            rtp.close()
            return Call(self, call_id, 408, "No answer (timeout)", tag)
        call = Call(self, call_id, reply.status, reply.reason, tag, setup_seconds=time.monotonic() - started,
                    from_header=from_header, to_header=reply.get("to") or "", cseq=int(dict(headers)["CSeq"].split()[0]),
                    cancelled=bool(cancel and cancel.is_set()))
        if not call.answered:
            rtp.close()
            return call
        contact = reply.get("contact") or ""
        call.remote_target = contact[contact.find("<") + 1: contact.find(">")] if "<" in contact else contact
        call.route_set = list(reversed([r.strip() for rr in reply.get_all("record-route") for r in rr.split(",")]))
        call.remote_tag, call.remote_sdp = reply.tag("to"), reply.body
        ack = [self._via("z9hG4bK" + token_hex(8)), ("Max-Forwards", "70"), ("From", from_header),
               ("To", call.to_header), ("Call-ID", call_id), ("CSeq", f"{call.cseq} ACK")]
        if acknowledge:
            self.send(request("ACK", call.remote_target, ack + [("Route", r) for r in call.route_set]))
        if offer is not None:
            return call
        media = sdp_media(reply.body)
        call.rtp = rtp
        if media and self.rtp_seconds and acknowledge:
            rtp.start(media, self.rtp_seconds)
        return call

    # --- server side -------------------------------------------------------------------------

    def _respond(self, call: IncomingCall | None, message: SipMessage, status: int, reason: str,
                 extra: list[tuple[str, str]] = (), body: bytes = b"", target=None) -> None:
        response = response_to(message, status, reason, call.local_tag if call else token_hex(4), extra, body)
        if call is not None and message.method == "INVITE":
            call.last_response = response
        self.send(response, target)

    def _find(self, call_id: str) -> IncomingCall | None:
        return next((c for c in reversed(self.incoming) if c.invite.call_id == call_id), None)

    def _serve(self, message: SipMessage, source: tuple[str, int]) -> None:
        known = self._find(message.call_id)
        if message.method == "OPTIONS":
            self.options_received += 1
            self.options_sources.add(source[0])
            self._respond(None, message, 200, "OK", [("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")], target=source)
        elif message.method == "INVITE":
            if known is not None:  # a retransmission: repeat what we answered
                if known.last_response is not None:
                    self.send(known.last_response, source)
                return
            if self.refuse_with:
                call = IncomingCall(message, False)
                self.incoming.append(call)
                self._respond(call, message, *self.refuse_with, target=source)
                return
            call = IncomingCall(message, False, RtpStream(self.address) if self.answer_with is None else None)
            self.incoming.append(call)
            if self.answer_after > 0:
                self._respond(call, message, 180, "Ringing", [("Contact", self.contact)], target=source)
                threading.Timer(self.answer_after, self._answer, (call, source)).start()
            else:
                self._answer(call, source)
        elif message.method == "CANCEL":
            if known is None or known.answered or known.cancelled:
                self._respond(None, message, 481 if known is None else 200, "Call/Transaction Does Not Exist"
                              if known is None else "OK", target=source)
                return
            known.cancelled = True
            self._respond(known, message, 200, "OK", target=source)
            self._respond(known, known.invite, 487, "Request Terminated", target=source)
            if known.rtp:
                known.rtp.close()
        elif message.method == "BYE":
            if known is None and self.on_bye is not None and self.on_bye(message):  # a call this agent made
                self._respond(None, message, 200, "OK", target=source)
                return
            self._respond(known, message, 200 if known else 481, "OK" if known else "Call/Transaction Does Not Exist",
                          target=source)
            if known:
                known.acked.set()  # a BYE confirms the dialog too (its ACK may be lost)
                if known.rtp:  # the call is over: its media too (the relay may give its ports to the next call)
                    known.rtp.close()
                known.ended.set()
        elif message.method == "ACK":
            if known:
                known.acked.set()
                self._unacked.pop(known.invite.call_id, None)
        else:
            self._respond(None, message, 405, "Method Not Allowed", [("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS")],
                          target=source)

    def _answer(self, call: IncomingCall, source: tuple[str, int]) -> None:
        if call.cancelled:
            return
        call.answered = True
        answer = self.answer_with(call.invite) if self.answer_with else sdp_offer(self.address, call.rtp.port, 2)
        self._respond(call, call.invite, 200, self.answer_reason,
                      [("Contact", self.contact), ("Content-Type", "application/sdp")], answer, target=source)
        if not self.transport.reliable:
            if threading.current_thread() is self._thread:  # the reader repeats it (and wakes in time)
                now = time.monotonic()
                self._unacked[call.invite.call_id] = [now + self.t1, self.t1, now + 64 * self.t1, call, source]
            else:  # answered later (a Timer): the reader may be waiting with no deadline
                threading.Thread(target=self._repeat_answer, args=(call, source), daemon=True).start()
        media = sdp_media(call.invite.body)
        if media and self.rtp_seconds and call.rtp:
            call.rtp.start(media, self.rtp_seconds)

    def _repeat_answer(self, call: IncomingCall, source: tuple[str, int]) -> None:
        """RFC 3261 13.3.1.4 over UDP: repeat the 200 at T1, doubling up to T2 (Timer G's schedule) until the
        ACK comes, the agent closes or 64*T1 has passed (then the dialog is given up, as Timer H would)."""
        interval, deadline = self.t1, time.monotonic() + 64 * self.t1
        while not call.acked.wait(interval) and not self._stop.is_set() and time.monotonic() < deadline:
            try:
                self.send(call.last_response, source)
            except OSError:  # the agent closed meanwhile
                return
            interval = min(interval * 2, T2)

    def _repeat_due(self) -> None:
        """The reader's Timer G/H: repeat the due 200s (T1 doubling up to T2) and drop the ACKed or given-up ones;
        then set the reader's wait to the next due repeat (none: wait for the next datagram)."""
        now = time.monotonic()
        next_due = None
        for call_id, entry in list(self._unacked.items()):
            due, interval, give_up, call, source = entry
            if call.acked.is_set() or now >= give_up:
                del self._unacked[call_id]
                continue
            if now >= due:
                try:
                    self.send(call.last_response, source)
                except OSError:
                    pass
                entry[1] = interval = min(interval * 2, T2)
                entry[0] = due = now + interval
            next_due = due if next_due is None else min(next_due, due)
        self.transport.timeout = None if next_due is None else max(next_due - now, 0.001)
        self._repeat_armed = next_due is not None

    def forget(self, call: IncomingCall) -> None:
        """Drop a finished incoming call (long-running load users would otherwise keep every one)."""
        call.acked.set()
        if call.rtp:
            call.rtp.close()
        if call in self.incoming:
            self.incoming.remove(call)


class _Waiting:
    """A client transaction as the reader sees it: where its responses go. When nobody asked to see the
    provisional responses (`quiet`), the reader only notes that one came (`provisional`: no more INVITE
    retransmissions) instead of waking the transaction for it."""

    __slots__ = ("method", "quiet", "provisional", "queue")

    def __init__(self, method: str, quiet: bool):
        self.method, self.quiet, self.provisional = method, quiet, False
        # Looked up now, not at import: in a process that gevent patches after importing this module (pyinfra's CLI
        # package patches on import, so loading a site does), the C SimpleQueue would block the whole process while
        # the reader, a greenlet then, waits to put the answer in it: every request timed out.
        self.queue: queues.SimpleQueue = queues.SimpleQueue()


class _NoMedia:
    """The caller's media when it brings its own (an SDP offer of its own)."""

    port = 0

    def close(self) -> None:
        pass


def _branch(via: str) -> str:
    for part in via.split(";"):
        if part.strip().startswith("branch="):
            return part.strip()[7:]
    return ""
