"""Many callers calling their callees over one UDP socket, driven by the caller's own greenlet or thread.

`UserAgent` is a whole phone: a reader thread per phone, a queue per transaction, a `SipMessage` per message.
A load generator that places calls between its own pairs of phones pays for that on every message: the reader's
wake-up, the transaction's, the parse. `CallPairs` is the lean path for that job, as `Registrations` is for
registering:

- one socket for every phone of the batch, callers and callees (each its own account and Contact user part);
- no reader thread: `call_all()` sends every caller's INVITE at once, then reads what comes itself: the answers
  to its callers' requests (told apart by their Via branch), and the requests for its callees (by Call-ID and the
  Request-URI's user part), which it answers at once;
- the answers the callers expect are read with a narrow parse (status, Via branch; To, Contact and Record-Route
  of a 200; the challenge of a 407); the callees answer by copying the request's header lines, not by parsing it
  into a message; requests are built from prebuilt text;
- answers gather: while four or more transactions wait, the loop lets `gather` seconds (2 ms) pass between two
  reads, so that one wake-up reads several datagrams. The times reported stay exact: each answer's time is the
  kernel's receive timestamp (SO_TIMESTAMPNS).

Every call: INVITE, 407, ACK, INVITE with proxy digest, the callee's 200 (or its 486, or its 180 and, once the
registrar gives up on it, a CANCEL: the call's other branch, voicemail, answers), ACK, `hold` seconds of G.711
both ways (`RtpStream`), BYE. Over UDP, INVITEs are retransmitted at T1 doubling until an answer, BYEs at T1
doubling up to T2 (RFC 3261 17.1); a callee repeats its final answer to an INVITE until the ACK comes (13.3.1.4,
17.2.1), at most 64*T1. Each step's outcome goes to a callback as soon as it is known.
"""

from __future__ import annotations

import itertools
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..rtp import RtpStream
from ..sockets import close_waking_readers, receive_stamped, stamp_arrivals
from . import digest
from .agent import sdp_media, sdp_offer
from .identifiers import token_hex
from .message import COMPACT
from .registrations import GATHER_FROM, GATHER_SECONDS
from .transport import MAX_MESSAGE, T1, T2, local_address_towards

_BRANCH = re.compile(rb"branch=([^;,\s]+)")
_HEADER = {name: re.compile(rb"\r\n(?:" + b"|".join(re.escape(n) for n in names) + rb")[ \t]*:[ \t]*([^\r\n]*)",
                            re.IGNORECASE)
           for name, names in {"to": (b"to", b"t"), "contact": (b"contact", b"m"), "call-id": (b"call-id", b"i"),
                               "record-route": (b"record-route",), "proxy-authenticate": (b"proxy-authenticate",),
                               "www-authenticate": (b"www-authenticate",)}.items()}
#: The request's header lines a response copies (RFC 3261 8.2.6.2, 12.1.1: Record-Route in a dialog's answer).
_COPIED = frozenset(("via", "from", "to", "call-id", "cseq", "record-route"))
_TAG = re.compile(r";\s*tag\s*=\s*([^;\s,]+)")
#: Kinds of call: what the callee does with the INVITE.
ANSWERED, BUSY, RINGING = "answered", "busy", "ringing"


@dataclass(slots=True)
class CallOutcome:
    """One step of one pair's call: `step` is "register", "setup", "bye" or "media"; `error` when it failed."""

    pair: int
    step: str
    kind: str
    ms: float = 0.0
    error: str | None = None
    #: for "media": the caller's stream, and the callee's (None when voicemail answered).
    streams: tuple[RtpStream, ...] = ()


@dataclass(slots=True)
class _Pair:
    index: int
    caller: str
    caller_password: str
    callee: str
    callee_password: str
    ha1: dict[tuple[str, str, str], str] = field(default_factory=dict)  # by (username, realm, algorithm)
    cseq: int = field(default_factory=lambda: secrets.randbelow(10000) + 1)


@dataclass(slots=True)
class _Call:
    pair: _Pair
    kind: str
    call_id: str
    from_header: str
    started: float  # the first INVITE's sending (monotonic seconds)
    rtp: RtpStream
    to_header: str = ""
    remote_target: str = ""
    route: str = ""  # the dialog's Route header lines
    hold_until: float = 0.0
    ack: bytes = b""  # the 2xx's ACK, sent again if the 2xx comes again
    answered_branch: bytes = b""
    done: bool = False


@dataclass(slots=True)
class _Incoming:
    """A callee's side of one call: its final answer to the INVITE, repeated until the ACK."""

    pair: _Pair
    tag: str
    lines: list[bytes]  # the INVITE's copied header lines
    source: tuple[str, int]
    final: bytes = b""
    repeat_at: float = 0.0
    interval: float = T1
    give_up: float = 0.0
    acked: bool = False
    rtp: RtpStream | None = None


@dataclass(slots=True)
class _Transaction:
    call: _Call | None
    pair: _Pair
    method: str
    head: tuple[str, str, str]  # what `_send_request` builds the request from
    body: bytes
    cseq: int
    data: bytes
    started: float  # the request's first sending; for an answered challenge, the first request's
    resend_at: float
    deadline: float
    interval: float = T1
    provisional: bool = False
    challenged: bool = False


class CallPairs:
    """`pairs` ((caller, password), (callee, password)) calling through `server` (host, port) for `domain` over one
    UDP socket; each call holds `hold` seconds of RTP. Driven by one greenlet or thread at a time (whoever calls
    `register_callees`, `call_all` or `serve` reads the socket)."""

    def __init__(self, server: tuple[str, int], domain: str, pairs: list[tuple[tuple[str, str], tuple[str, str]]],
                 hold: float, local_address: str | None = None, gather: float = GATHER_SECONDS):
        self.server, self.domain, self.hold, self.gather = server, domain, hold, gather
        self.address = local_address or local_address_towards(*server)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((self.address, 0))
        self._stamped = stamp_arrivals(self.sock)
        self.port = self.sock.getsockname()[1]
        self.pairs = [_Pair(n, caller, caller_pw, callee, callee_pw)
                      for n, ((caller, caller_pw), (callee, callee_pw)) in enumerate(pairs)]
        self._by_user = {p.callee: p for p in self.pairs}
        self._branch_prefix = f"z9hG4bK{secrets.token_hex(4)}."
        self._branches = itertools.count(1)
        self._via = f"Via: SIP/2.0/UDP {self.address}:{self.port};rport;branch="
        self._transactions: dict[bytes, _Transaction] = {}
        self._calls: dict[str, _Call] = {}  # by Call-ID, while a call lasts
        self._answered: dict[bytes, _Call] = {}  # by the INVITE's branch: a 2xx again gets the ACK again
        self._incoming: dict[str, _Incoming] = {}  # a callee's calls by Call-ID
        self._forms: dict[tuple[str, str], digest.Forms] = {}
        self._report: Callable[[CallOutcome], None] = lambda outcome: None

    def close(self) -> None:
        for call in self._calls.values():
            call.rtp.close()
        for incoming in self._incoming.values():
            if incoming.rtp:
                incoming.rtp.close()
        close_waking_readers(self.sock)

    def __enter__(self) -> CallPairs:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def contact(self, username: str) -> str:
        return f"<sip:{username}@{self.address}:{self.port}>"

    # --- the steps --------------------------------------------------------------------------------

    def register_callees(self, expires: int = 3600, timeout: float = 8.0,
                         report: Callable[[CallOutcome], None] | None = None) -> list[CallOutcome]:
        """REGISTER every callee (digest auth): one "register" outcome each."""
        outcomes: list[CallOutcome] = []
        self._report = self._collecting(outcomes, report)
        now = time.monotonic()
        for pair in self.pairs:
            aor = f"sip:{pair.callee}@{self.domain}"
            head = (f"REGISTER sip:{self.domain} SIP/2.0\r\n{self._via}", f"\r\nMax-Forwards: 70\r\nFrom: <{aor}>;tag="
                    f"{token_hex(4)}\r\nTo: <{aor}>\r\nCall-ID: reg-{pair.callee}-{token_hex(6)}@{self.address}\r\n"
                    f"Contact: {self.contact(pair.callee)}\r\nExpires: {expires}\r\nCSeq: ",
                    " REGISTER\r\n")
            self._send_request(None, pair, "REGISTER", head, "", now, timeout)
        self._run(lambda: not self._transactions)
        return outcomes

    def call_all(self, kinds: list[str] | None = None, timeout: float = 16.0,
                 report: Callable[[CallOutcome], None] | None = None) -> list[CallOutcome]:
        """Every caller calls its callee once (`kinds`: each pair's kind of call, answered by default), holds,
        hangs up; returns (and `report`s, one by one as they end) each pair's "setup", then "bye" and "media"."""
        outcomes: list[CallOutcome] = []
        self._report = self._collecting(outcomes, report)
        now = time.monotonic()
        for pair, kind in zip(self.pairs, kinds or [ANSWERED] * len(self.pairs)):
            self._invite(pair, kind, now, timeout)
        # Every call ends by its answers or its timers; past this, one that has not is ended as failed (a safety
        # net: a call the loop lost track of must not hold the user forever).
        self._run(lambda: not self._calls, now + timeout + self.hold + 64 * T1 + 5)
        for call in list(self._calls.values()):
            self._transactions = {b: tx for b, tx in self._transactions.items() if tx.call is not call}
            self._report(CallOutcome(call.pair.index, "bye" if call.ack else "setup", call.kind,
                                     (time.monotonic() - call.started) * 1000, "the call never ended"))
            self._ended(call)
        return outcomes

    def serve(self, seconds: float) -> None:
        """Answer what comes (keepalives, late repeats) for `seconds`: the time between two rounds of calls."""
        self._run(lambda: False, time.monotonic() + seconds)

    @staticmethod
    def _collecting(outcomes: list[CallOutcome], report) -> Callable[[CallOutcome], None]:
        def done(outcome: CallOutcome) -> None:
            outcomes.append(outcome)
            if report is not None:
                report(outcome)
        return done

    # --- the loop ---------------------------------------------------------------------------------

    def _run(self, finished: Callable[[], bool], until: float | None = None) -> None:
        """Read, answer and keep the timers until `finished()`, or `until` (monotonic seconds) has passed."""
        sock = self.sock
        while not finished():
            now = time.monotonic()
            if until is not None and now >= until:
                return
            due = self._timers(now)
            if until is not None:
                due = min(due, until)
            sock.settimeout(max(due - now, 0.001))
            try:
                self._handle(*self._receive())
            except (TimeoutError, socket.timeout):
                continue
            sock.settimeout(0)  # what else is queued, without waiting (one wake-up, many datagrams)
            try:
                while True:
                    self._handle(*self._receive())
            except (BlockingIOError, InterruptedError, TimeoutError, socket.timeout):
                pass
            if self.gather and len(self._transactions) >= GATHER_FROM:
                time.sleep(max(min(self.gather, due - time.monotonic()), 0))

    def _receive(self) -> tuple[bytes, tuple[str, int], float]:
        """The next datagram, where from, and when it arrived (monotonic seconds)."""
        return receive_stamped(self.sock, self._stamped, MAX_MESSAGE)

    def _timers(self, now: float) -> float:
        """Retransmit what is due, end what timed out, hang up the calls whose hold is over; the next due time."""
        due = now + 3600.0
        for branch, tx in list(self._transactions.items()):
            if now >= tx.deadline:
                del self._transactions[branch]
                self._failed(tx, now, f"{tx.method}: no answer within {tx.deadline - tx.started:g} s")
                continue
            if now >= tx.resend_at and not (tx.provisional and tx.method == "INVITE"):
                self.sock.sendto(tx.data, self.server)
                tx.interval = tx.interval * 2 if tx.method == "INVITE" else min(tx.interval * 2, T2)
                tx.resend_at = now + (T2 if tx.provisional else tx.interval)
            due = min(due, tx.deadline if tx.provisional and tx.method == "INVITE" else tx.resend_at, tx.deadline)
        for call in list(self._calls.values()):
            if call.hold_until:
                if now >= call.hold_until:
                    self._bye(call, now)
                else:
                    due = min(due, call.hold_until)
        for call_id, incoming in list(self._incoming.items()):
            if incoming.acked or not incoming.final:
                continue
            if now >= incoming.give_up:
                incoming.acked = True  # (Timer H: given up; the call's BYE still ends it)
                continue
            if now >= incoming.repeat_at:
                self.sock.sendto(incoming.final, incoming.source)
                incoming.interval = min(incoming.interval * 2, T2)
                incoming.repeat_at = now + incoming.interval
            due = min(due, incoming.repeat_at)
        return due

    def _handle(self, data: bytes, source: tuple[str, int], received: float) -> None:
        head_end = data.find(b"\r\n\r\n")
        if head_end < 0:
            return  # not SIP (a keepalive CRLF, junk)
        head = data[:head_end + 2]  # (each header line ends with CRLF)
        try:
            if data.startswith(b"SIP/2.0 "):
                self._response(data, head, received)
            else:
                self._request(data, head, source)
        except (ValueError, IndexError, AttributeError, KeyError, UnicodeDecodeError):
            return  # a malformed message is dropped, as a retransmission would be

    # --- callers ----------------------------------------------------------------------------------

    def _send_request(self, call: _Call | None, pair: _Pair, method: str, head: tuple[str, str, str], extra: str,
                      now: float, timeout: float, body: bytes = b"", started: float | None = None) -> _Transaction:
        """head: the request line and Via up to the branch, the lines after it up to the CSeq number, the rest of
        the CSeq line; `extra`: more header lines (an Authorization). The pair's next CSeq number."""
        pair.cseq += 1
        branch = f"{self._branch_prefix}{next(self._branches)}"
        data = (f"{head[0]}{branch}{head[1]}{pair.cseq}{head[2]}{extra}Content-Length: {len(body)}\r\n\r\n"
                ).encode() + body
        tx = self._transactions[branch.encode()] = _Transaction(
            call, pair, method, head, body, pair.cseq, data, now if started is None else started, now + T1,
            now + timeout)
        self.sock.sendto(data, self.server)
        return tx

    def _invite(self, pair: _Pair, kind: str, now: float, timeout: float) -> None:
        call_id = f"{token_hex(8)}@{self.address}"
        from_header = f"<sip:{pair.caller}@{self.domain}>;tag={token_hex(4)}"
        rtp = RtpStream(self.address)
        call = _Call(pair, kind, call_id, from_header, now, rtp)
        uri = f"sip:{pair.callee}@{self.domain}"
        head = (f"INVITE {uri} SIP/2.0\r\n{self._via}", f"\r\nMax-Forwards: 70\r\nFrom: {from_header}\r\n"
                f"To: <{uri}>\r\nCall-ID: {call_id}\r\nContact: {self.contact(pair.caller)}\r\n"
                f"Content-Type: application/sdp\r\nCSeq: ", " INVITE\r\n")
        self._calls[call_id] = call
        self._send_request(call, pair, "INVITE", head, "", now, timeout, sdp_offer(self.address, rtp.port, 1))

    def _response(self, data: bytes, head: bytes, received: float) -> None:
        match = _BRANCH.search(head)
        if match is None:
            return
        branch = match.group(1)
        status = int(head[8:11])
        tx = self._transactions.get(branch)
        if tx is None:
            call = self._answered.get(branch)
            if call is not None and 200 <= status < 300 and call.ack:
                self.sock.sendto(call.ack, self.server)  # the 2xx again: our ACK was lost
            return
        if status < 200:
            tx.provisional = True
            if tx.method != "INVITE":
                tx.resend_at = time.monotonic() + T2
            return
        del self._transactions[branch]
        now = time.monotonic()
        try:
            self._final(tx, data, head, status, received, branch, now)
        except (ValueError, IndexError, AttributeError, KeyError, UnicodeDecodeError) as exc:  # (no To, no tag...)
            self._failed(tx, now, f"{tx.method}: a malformed {status} answer ({exc.__class__.__name__})")

    def _final(self, tx: _Transaction, data: bytes, head: bytes, status: int, received: float, branch: bytes,
               now: float) -> None:
        """A final answer to one of our requests (its transaction already ended)."""
        if tx.method == "INVITE" and status >= 300:
            self._ack_failure(tx, head)
        if status in (401, 407) and not tx.challenged:
            authorization = self._answer_challenge(tx, head, status)
            if authorization is not None:  # the request again, answered: a new branch, the next CSeq
                self._send_request(tx.call, tx.pair, tx.method, tx.head, authorization, now, tx.deadline - now,
                                   tx.body, tx.started).challenged = True
                return
        if tx.method == "REGISTER":
            ok = status == 200
            self._report(CallOutcome(tx.pair.index, "register", "", (received - tx.started) * 1000,
                                     None if ok else f"REGISTER: {_status_line(head)}"))
        elif tx.method == "INVITE":
            self._invite_answered(tx, data, head, status, received, branch, now)
        elif tx.method == "BYE":
            call = tx.call
            self._report(CallOutcome(tx.pair.index, "bye", call.kind, (received - tx.started) * 1000,
                                     None if status == 200 else f"BYE: {_status_line(head)}"))
            self._ended(call)

    def _answer_challenge(self, tx: _Transaction, head: bytes, status: int) -> str | None:
        name = "www-authenticate" if status == 401 else "proxy-authenticate"
        found = _HEADER[name].search(head)
        if found is None:
            return None
        uri = tx.head[0][tx.head[0].find(" ") + 1:tx.head[0].find(" SIP/2.0\r\n")]
        forms = self._forms.get((tx.method, uri))
        if forms is None:
            forms = self._forms[(tx.method, uri)] = digest.Forms(tx.method, uri)
        read = forms.read(found.group(1).decode("utf-8", "replace"))
        if read is None:
            return None
        form, nonce = read
        username, password = (tx.pair.callee, tx.pair.callee_password) if tx.method == "REGISTER" else \
            (tx.pair.caller, tx.pair.caller_password)
        key = (username, form.realm, form.algorithm)
        ha1 = tx.pair.ha1.get(key)
        if ha1 is None:
            ha1 = tx.pair.ha1[key] = form.ha1(username, password)
        answer = "Authorization" if status == 401 else "Proxy-Authorization"
        return f"{answer}: {form.answer(nonce, username, ha1, cnonce=token_hex(8))}\r\n"

    def _ack_failure(self, tx: _Transaction, head: bytes) -> None:
        """The ACK of a non-2xx final answer (RFC 3261 17.1.1.3): the INVITE's branch, its To with the tag."""
        via = tx.data[:tx.data.find(b"\r\n", tx.data.find(b"\r\n") + 2)].decode()  # request line, Via
        to = _HEADER["to"].search(head).group(1).decode()
        call = tx.call
        ack = (f"ACK{via[6:]}\r\nMax-Forwards: 70\r\nFrom: {call.from_header}\r\nTo: {to}\r\n"
               f"Call-ID: {call.call_id}\r\nCSeq: {tx.cseq} ACK\r\nContent-Length: 0\r\n\r\n")
        self.sock.sendto(ack.encode(), self.server)

    def _invite_answered(self, tx: _Transaction, data: bytes, head: bytes, status: int, received: float,
                         branch: bytes, now: float) -> None:
        call = tx.call
        setup_ms = (received - call.started) * 1000
        if not 200 <= status < 300:
            self._report(CallOutcome(call.pair.index, "setup", call.kind, setup_ms, f"INVITE: {_status_line(head)}"))
            self._ended(call)
            return
        call.to_header = _HEADER["to"].search(head).group(1).decode().strip()
        contact = _HEADER["contact"].search(head)
        target = contact.group(1).decode().strip() if contact else ""
        call.remote_target = target[target.find("<") + 1:target.find(">")] if "<" in target else target
        routes = [r.strip() for found in _HEADER["record-route"].finditer(head)
                  for r in found.group(1).decode().split(",")]
        call.route = "".join(f"Route: {r}\r\n" for r in reversed(routes))
        cseq = tx.cseq
        call.ack = (f"ACK {call.remote_target} SIP/2.0\r\n{self._via}{self._branch_prefix}{next(self._branches)}\r\n"
                    f"Max-Forwards: 70\r\nFrom: {call.from_header}\r\nTo: {call.to_header}\r\nCall-ID: {call.call_id}"
                    f"\r\nCSeq: {cseq} ACK\r\n{call.route}Content-Length: 0\r\n\r\n").encode()
        self.sock.sendto(call.ack, self.server)
        call.answered_branch = branch
        self._answered[branch] = call
        media = sdp_media(data[data.find(b"\r\n\r\n") + 4:])
        if media:
            call.rtp.start(media, self.hold)
        call.hold_until = now + self.hold
        self._report(CallOutcome(call.pair.index, "setup", call.kind, setup_ms))

    def _bye(self, call: _Call, now: float) -> None:
        """Hang up: the stream stops first (the relay frees the call's ports on the BYE), then BYE along the
        route set."""
        call.hold_until = 0.0
        call.rtp.close()
        head = (f"BYE {call.remote_target} SIP/2.0\r\n{self._via}", f"\r\nMax-Forwards: 70\r\nFrom: {call.from_header}"
                f"\r\nTo: {call.to_header}\r\nCall-ID: {call.call_id}\r\n{call.route}CSeq: ", " BYE\r\n")
        self._send_request(call, call.pair, "BYE", head, "", now, 64 * T1)

    def _failed(self, tx: _Transaction, now: float, error: str) -> None:
        if tx.method == "REGISTER":
            self._report(CallOutcome(tx.pair.index, "register", "", (now - tx.started) * 1000, error))
            return
        call = tx.call
        self._report(CallOutcome(tx.pair.index, "setup" if tx.method == "INVITE" else "bye", call.kind,
                                 (now - tx.started) * 1000, error))
        self._ended(call)

    def _ended(self, call: _Call) -> None:
        """The call is over (hung up, refused, or failed): its media's figures are reported for an answered one."""
        if call.done:
            return
        call.done = True
        call.rtp.close()
        self._calls.pop(call.call_id, None)
        self._answered.pop(call.answered_branch, None)
        incoming = self._incoming.pop(call.call_id, None)
        if incoming is not None and incoming.rtp is not None:
            incoming.rtp.close()
        if call.ack:  # it was answered
            streams = (call.rtp,) + ((incoming.rtp,) if incoming is not None and incoming.rtp is not None else ())
            self._report(CallOutcome(call.pair.index, "media", call.kind, streams=streams))

    # --- callees ----------------------------------------------------------------------------------

    def _request(self, data: bytes, head: bytes, source: tuple[str, int]) -> None:
        method = head[:head.index(b" ")]
        call_id = _HEADER["call-id"].search(head)
        call_id = call_id.group(1).decode().strip() if call_id else ""
        incoming = self._incoming.get(call_id)
        if method == b"ACK":
            if incoming is not None:
                incoming.acked = True
            return
        uri = head[len(method) + 1:head.index(b" ", len(method) + 1)].decode()
        user = uri[uri.find(":") + 1:uri.find("@")] if "@" in uri else ""
        lines = [line for line in head.split(b"\r\n")[1:] if line and _stored(line) in _COPIED]
        if method == b"OPTIONS":
            self._reply(lines, source, "200 OK", token_hex(4), "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n")
        elif method == b"INVITE" and user in self._by_user:
            if incoming is not None:  # a retransmission: our answer again
                if incoming.final:
                    self.sock.sendto(incoming.final, source)
                return
            self._invite_received(self._by_user[user], call_id, lines, data, head, source)
        elif method == b"CANCEL" and incoming is not None and not incoming.final:
            self._reply(lines, source, "200 OK", incoming.tag)
            incoming.final = self._reply(incoming.lines, source, "487 Request Terminated", incoming.tag)
            self._repeat(incoming)
        elif method == b"BYE" and incoming is not None and user == incoming.pair.callee:
            self._reply(lines, source, "200 OK", incoming.tag)
            incoming.acked = True  # (a BYE confirms the dialog too: its ACK may be lost)
            if incoming.rtp is not None:
                incoming.rtp.close()  # (the relay may give its ports to the next call at once)
        elif method in (b"CANCEL", b"BYE"):
            self._reply(lines, source, "481 Call/Transaction Does Not Exist", token_hex(4))
        else:
            self._reply(lines, source, "405 Method Not Allowed", token_hex(4),
                        "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n")

    def _invite_received(self, pair: _Pair, call_id: str, lines: list[bytes], data: bytes, head: bytes,
                         source: tuple[str, int]) -> None:
        call = self._calls.get(call_id)
        kind = call.kind if call is not None else ANSWERED
        incoming = _Incoming(pair, token_hex(4), lines, source)
        self._incoming[call_id] = incoming
        contact = f"Contact: {self.contact(pair.callee)}\r\n"
        if kind == BUSY:
            incoming.final = self._reply(lines, source, "486 Busy Here", incoming.tag)
        elif kind == RINGING:
            self._reply(lines, source, "180 Ringing", incoming.tag, contact)
            return
        else:
            incoming.rtp = RtpStream(self.address)
            incoming.final = self._reply(lines, source, "200 OK", incoming.tag,
                                         contact + "Content-Type: application/sdp\r\n",
                                         sdp_offer(self.address, incoming.rtp.port, 2))
            media = sdp_media(data[len(head) + 2:])
            if media:
                incoming.rtp.start(media, self.hold)
        self._repeat(incoming)

    def _repeat(self, incoming: _Incoming) -> None:
        now = time.monotonic()
        incoming.repeat_at, incoming.interval, incoming.give_up = now + T1, T1, now + 64 * T1

    def _reply(self, lines: list[bytes], source: tuple[str, int], status: str, tag: str, extra: str = "",
               body: bytes = b"") -> bytes:
        """A response to the request whose copied header lines are `lines`, our tag added to its To."""
        out = [f"SIP/2.0 {status}".encode()]
        for line in lines:
            if _stored(line) == "to" and not _TAG.search(line.decode("utf-8", "replace")):
                line = line + f";tag={tag}".encode()
            out.append(line)
        data = b"\r\n".join(out) + f"\r\n{extra}Content-Length: {len(body)}\r\n\r\n".encode() + body
        self.sock.sendto(data, source)
        return data


def _stored(line: bytes) -> str:
    """A header line's name in its stored form: lower case, a compact form expanded."""
    name = line[:line.find(b":")].strip().lower().decode("ascii", "replace")
    return COMPACT.get(name, name)


def _status_line(head: bytes) -> str:
    return head[8:head.find(b"\r\n")].decode("utf-8", "replace").strip()
