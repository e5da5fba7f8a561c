"""Many phones registering over one UDP socket, driven by the caller's own greenlet or thread.

`UserAgent` is a whole phone: a reader thread, a queue per transaction, calls and media. A load generator that
only keeps registrations up needs none of that, and pays for it on every REGISTER (two thread switches and a
queue per transaction). `Registrations` is the lean path for that job:

- one socket for every phone of the batch (each phone is its own account, Call-ID and Contact user part);
- no reader thread: `register_all()` sends every phone's REGISTER at once, then reads the answers itself,
  answering each 401 as it comes in (once, or again when it says stale=true, RFC 2617 3.2.1), retransmitting over
  UDP at T1 doubling up to T2 (RFC 3261 17.1.2.2);
- the answers it expects are read with a narrow parse (status, Via branch, the digest challenge); anything else,
  and every request that arrives (the registrar's OPTIONS keepalives, answered 200), goes through the full parser;
- the digest's HA1 is kept per phone and realm;
- answers are gathered: while four or more phones wait, the loop lets `gather` seconds (2 ms) pass between two
  reads, so that one wake-up reads the several answers that came in meanwhile instead of one. A registrar that
  answers one message at a time otherwise costs a wake-up per answer, which cost the generator more than the
  protocol work (measured: 102 against 54 µs of CPU per registration with 100 phones on a socket). The times reported stay exact: each answer's
  time is the kernel's receive timestamp (SO_TIMESTAMPNS), and a registration's time is the sum of its two
  exchanges (each request's first sending to its answer's arrival), so the gathering delay before the second
  REGISTER is not counted as the registrar's.

Each registration's outcome (its time, or why it failed) goes to a callback as soon as it is known, so a Locust
user reports every registration as one request, as before.
"""

from __future__ import annotations

import itertools
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import digest
from .identifiers import token_hex
from .message import SipParseError, parse, response_to
from ..sockets import receive_stamped, stamp_arrivals
from .transport import MAX_MESSAGE, T1, T2, local_address_towards

_BRANCH = re.compile(rb"branch=([^;,\s]+)")
_CHALLENGE = re.compile(rb"\r\nwww-authenticate[ \t]*:[ \t]*([^\r\n]+)", re.IGNORECASE)
_STALE = re.compile(rb"stale[ \t]*=[ \t]*\"?true", re.IGNORECASE)
#: How long the loop lets answers gather between two reads (see the module's docstring).
GATHER_SECONDS = 0.002
#: ... from this many phones waiting for an answer on the socket.
GATHER_FROM = 4


@dataclass
class Outcome:
    """One registration: 200 after `ms`, or the reason it failed (`error`)."""

    username: str
    ms: float
    error: str | None = None


@dataclass(slots=True)
class _Phone:
    username: str
    password: str
    call_id: str
    cseq: int = field(default_factory=lambda: secrets.randbelow(10000) + 1)
    ha1: dict[tuple[str, str], str] = field(default_factory=dict)
    aor: str = ""
    headers: str = ""  # what every REGISTER of this phone says after its From tag, up to its CSeq


@dataclass(slots=True)
class _Pending:
    phone: _Phone
    started: float  # this request's first sending (monotonic seconds)
    data: bytes
    tag: str
    answered: int = 0  # challenges answered so far
    interval: float = T1
    resend_at: float = 0.0
    spent: float = 0.0  # seconds the registration's earlier exchanges took

    def ms(self, received: float) -> float:
        return max(self.spent + received - self.started, 0.0) * 1000


class Registrations:
    """`accounts` registering with `server` (host, port) for `domain` over one UDP socket."""

    def __init__(self, server: tuple[str, int], domain: str, accounts: list[tuple[str, str]],
                 local_address: str | None = None, expires: int = 300, gather: float = GATHER_SECONDS):
        self.server, self.gather = server, gather
        self.address = local_address or local_address_towards(*server)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((self.address, 0))
        self._stamped = stamp_arrivals(self.sock)  # (else an answer's time is when it is read)
        self.port = self.sock.getsockname()[1]
        tag = secrets.token_hex(4)
        self.phones = [_Phone(u, p, f"reg-{u}-{tag}@{self.address}") for u, p in accounts]
        for phone in self.phones:
            phone.aor = f"sip:{phone.username}@{domain}"
            phone.headers = (f"\r\nTo: <{phone.aor}>\r\nCall-ID: {phone.call_id}\r\n"
                             f"Contact: <sip:{phone.username}@{self.address}:{self.port}>\r\nExpires: {expires}\r\n")
        self._branch_prefix = f"z9hG4bK{secrets.token_hex(4)}."
        self._branches = itertools.count(1)
        self._pending: dict[bytes, _Pending] = {}
        self._next_resend = 0.0  # no transaction is due before this (monotonic seconds)
        self.uri = f"sip:{domain}"
        self._forms = digest.Forms("REGISTER", self.uri)
        self._start = f"REGISTER {self.uri} SIP/2.0\r\nVia: SIP/2.0/UDP {self.address}:{self.port};rport;branch="

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Registrations:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- registering ---------------------------------------------------------------------------------

    def register_all(self, timeout: float = 8.0, report: Callable[[Outcome], None] | None = None) -> list[Outcome]:
        """REGISTER every phone; return (and `report`, one by one as they end) their outcomes."""
        outcomes: list[Outcome] = []

        def done(outcome: Outcome) -> None:
            outcomes.append(outcome)
            if report is not None:
                report(outcome)

        now = time.monotonic()
        deadline = now + timeout
        self._next_resend = deadline
        for phone in self.phones:
            self._send_register(phone, now)
        while self._pending:
            now = time.monotonic()
            if now >= deadline:
                for pending in self._pending.values():
                    done(Outcome(pending.phone.username, pending.ms(now),
                                 f"REGISTER: no answer within {timeout:g} s"))
                self._pending.clear()
                break
            if now >= self._next_resend:
                # The transactions are looked through only when one may be due (not on every answer: with many
                # phones on the socket that scan would cost more than the answer).
                self._next_resend = deadline
                for pending in self._pending.values():
                    if pending.resend_at <= now:
                        self.sock.sendto(pending.data, self.server)
                        pending.interval = min(pending.interval * 2, T2)
                        pending.resend_at = now + pending.interval
                    self._next_resend = min(self._next_resend, pending.resend_at)
            self.sock.settimeout(max(self._next_resend - now, 0.001))
            try:
                self._handle(*self._receive(), done)
            except (TimeoutError, socket.timeout):
                continue
            # Read what else is queued without waiting (one wake-up, many answers).
            self.sock.settimeout(0)
            try:
                while self._pending:
                    self._handle(*self._receive(), done)
            except (BlockingIOError, InterruptedError, TimeoutError, socket.timeout):
                pass
            # (with a few phones waiting, little comes in meanwhile: the wait would only slow them down)
            if self.gather and len(self._pending) >= GATHER_FROM:
                time.sleep(max(min(self.gather, self._next_resend - time.monotonic()), 0))
        return outcomes

    def _receive(self) -> tuple[bytes, tuple[str, int], float]:
        """The next datagram, where from, and when it arrived (monotonic seconds)."""
        return receive_stamped(self.sock, self._stamped, MAX_MESSAGE)

    def serve(self, seconds: float) -> None:
        """Answer what the registrar sends (keepalive OPTIONS) for `seconds`: the time between two rounds."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data, source = self.sock.recvfrom(MAX_MESSAGE)
            except (TimeoutError, socket.timeout):
                return
            if not data.startswith(b"SIP/2.0 "):
                self._serve_request(data, source)

    def _send_register(self, phone: _Phone, now: float, authorization: str = "", tag: str | None = None,
                       answered: int = 0, spent: float = 0.0) -> None:
        phone.cseq += 1
        tag = tag or token_hex(4)  # (RFC 3261 19.3: cryptographically random)
        branch = f"{self._branch_prefix}{next(self._branches)}"
        data = (f"{self._start}{branch}\r\nMax-Forwards: 70\r\nFrom: <{phone.aor}>;tag={tag}{phone.headers}"
                f"CSeq: {phone.cseq} REGISTER\r\n{authorization}Content-Length: 0\r\n\r\n").encode()
        self._pending[branch.encode()] = _Pending(phone, now, data, tag, answered, T1, now + T1, spent)
        self._next_resend = min(self._next_resend, now + T1)
        self.sock.sendto(data, self.server)

    def _handle(self, data: bytes, source: tuple[str, int], received: float,
                done: Callable[[Outcome], None]) -> None:
        if not data.startswith(b"SIP/2.0 "):
            self._serve_request(data, source)
            return
        head = data[:data.find(b"\r\n\r\n")]
        match = _BRANCH.search(head)
        pending = self._pending.get(match.group(1)) if match else None
        if pending is None:
            return  # a late retransmission's answer, or not ours
        status = int(head[8:11]) if head[8:11].isdigit() else 0
        now = time.monotonic()
        if status < 200:
            pending.interval, pending.resend_at = T2, now + T2  # 1xx: keep the transaction, retransmit at T2
            return
        del self._pending[match.group(1)]
        phone = pending.phone
        if status == 200:
            done(Outcome(phone.username, pending.ms(received)))
            return
        if status == 401 and (pending.answered == 0 or (pending.answered == 1 and _STALE.search(head))):
            challenge = _CHALLENGE.search(head)
            if challenge is not None:
                authorization = self._authorization(phone, challenge.group(1).decode("utf-8", "replace"))
                if authorization:
                    self._send_register(phone, now, f"Authorization: {authorization}\r\n", pending.tag,
                                        pending.answered + 1, pending.spent + received - pending.started)
                    return
        try:
            reason = parse(data).reason
        except SipParseError as exc:
            reason = f"(unparsable answer: {exc})"
        done(Outcome(phone.username, pending.ms(received), f"REGISTER: {status} {reason}".strip()))

    def _authorization(self, phone: _Phone, header: str) -> str | None:
        read = self._forms.read(header)  # (parsed once per form of challenge: only the nonce changes)
        if read is None:
            return None
        form, nonce = read
        key = (form.realm, form.algorithm)
        ha1 = phone.ha1.get(key)
        if ha1 is None:
            ha1 = phone.ha1[key] = form.ha1(phone.username, phone.password)
        return form.answer(nonce, phone.username, ha1, cnonce=token_hex(8))

    # --- what the registrar sends -----------------------------------------------------------------------

    def _serve_request(self, data: bytes, source: tuple[str, int]) -> None:
        """OPTIONS (keepalives): 200; anything else a registration-only phone cannot take: 405; junk: dropped."""
        try:
            request = parse(data)
        except SipParseError:
            return
        if request.method == "ACK":
            return
        reply = response_to(request, 200, "OK") if request.method == "OPTIONS" else \
            response_to(request, 405, "Method Not Allowed", extra=[("Allow", "OPTIONS")])
        self.sock.sendto(reply.encode(), source)
