"""CallPairs (the load generator's callers and callees on one socket) against a proxy on 127.0.0.1 that checks the
digests for real, record-routes, and forwards between the pairs: every kind of call completes with its media, a
lost INVITE is sent again, a busy callee fails only its own call, and a ringing callee is cancelled while
"voicemail" (the proxy) answers the caller."""

from __future__ import annotations

import hashlib
import multiprocessing
import re
import socket
import time

import pytest

from rtcstack.protocols.sip import digest
from rtcstack.protocols.sip.call_pairs import ANSWERED, BUSY, RINGING, CallPairs

REALM = "lab.test"
PAIRS = [((f"caller{i}", f"pw-a{i}"), (f"callee{i}", f"pw-b{i}")) for i in range(4)]
PASSWORDS = {user: password for pair in PAIRS for user, password in pair}
#: What the proxy counts (shared with the test): INVITEs dropped, CANCELs answered 200, INVITEs answered 487.
COUNTERS = ("dropped", "cancel_ok", "terminated")


def _header(text: str, name: str) -> str | None:
    found = re.search(rf"^{name}:[ \t]*([^\r\n]*)", text, re.M | re.I)
    return found.group(1) if found else None


def _address(value: str) -> tuple[str, int]:
    host, port = re.search(r"(?:@|UDP )([\d.]+):(\d+)", value).groups()
    return host, int(port)


class Proxy:
    """A registrar and record-routing proxy for the pairs: 401/407 digest challenges (MD5, qop=auth), checked;
    INVITEs forwarded to the callee's registered Contact with a Via and a Record-Route of its own, responses back
    along the Vias. `drop`: callees whose first authorised INVITE is ignored (a lost datagram). A 180 makes it wait
    0.3 s, CANCEL the callee, ACK its 487 and answer the caller itself, as voicemail would. A process of its own, so
    that its answers do not wait for the client's thread (the GIL)."""

    def __init__(self, drop: set[str] = frozenset()):
        self.drop = set(drop)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.address = self.sock.getsockname()
        self.via = f"SIP/2.0/UDP 127.0.0.1:{self.address[1]}"
        self.counters = {name: multiprocessing.Value("i", 0) for name in COUNTERS}
        self.contacts: dict[str, tuple[str, int]] = {}
        self.forwarded: dict[str, str] = {}  # Call-ID: the INVITE as forwarded (for its CANCEL)
        self.cancel_at: dict[str, float] = {}
        self.caller_invites: dict[str, tuple[str, tuple[str, int]]] = {}  # Call-ID: the caller's INVITE, its source
        self._stop = multiprocessing.Event()
        self._process = multiprocessing.get_context("fork").Process(target=self._run, daemon=True)
        self._process.start()

    def count(self, name: str) -> int:
        return self.counters[name].value

    def close(self) -> None:
        self._stop.set()
        self._process.join()
        self.sock.close()

    def _bump(self, name: str) -> None:
        with self.counters[name].get_lock():
            self.counters[name].value += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for call_id, at in list(self.cancel_at.items()):
                if now >= at:
                    del self.cancel_at[call_id]
                    self._cancel(call_id)
            try:
                data, source = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            text = data.decode()
            if text.startswith("SIP/2.0 "):
                self._response(text)
            else:
                self._request(text, source)

    def _send(self, text: str, target: tuple[str, int]) -> None:
        self.sock.sendto(text.encode(), target)

    def _reply(self, request: str, status: str, extra: str = "", body: str = "", tag: str = "px") -> str:
        keep = "".join(m.group(0) for m in re.finditer(r"^(Via|From|To|Call-ID|CSeq|Record-Route):[^\r\n]*\r\n",
                                                       request, re.M))
        keep = re.sub(r"^(To:[^\r\n;]*)\r\n", rf"\1;tag={tag}\r\n", keep, flags=re.M)
        return f"SIP/2.0 {status}\r\n{keep}{extra}Content-Length: {len(body)}\r\n\r\n{body}"

    def _authorised(self, text: str, method: str, header: str, user: str) -> bool | None:
        """None: no credentials; else whether the digest response is right."""
        value = _header(text, header)
        if value is None:
            return None
        answer = digest.parse_challenge(value)
        challenge = {"realm": REALM, "nonce": answer["nonce"], "qop": "auth"}
        expected = digest.parse_challenge(digest.authorization(
            challenge, method, answer["uri"], user, PASSWORDS[user], nc=int(answer["nc"], 16),
            cnonce=answer["cnonce"]))["response"]
        return answer["response"] == expected

    def _challenge(self, text: str, source, status: str, header: str) -> None:
        nonce = hashlib.md5(str(time.monotonic_ns()).encode()).hexdigest()
        self._send(self._reply(text, status, f'{header}: Digest realm="{REALM}", nonce="{nonce}", qop="auth", '
                                             f"algorithm=MD5\r\n"), source)

    def _request(self, text: str, source: tuple[str, int]) -> None:
        method = text.split(" ", 1)[0]
        call_id = _header(text, "Call-ID")
        if method == "REGISTER":
            user = re.search(r"^From: <sip:([^@]+)@", text, re.M).group(1)
            ok = self._authorised(text, method, "Authorization", user)
            if ok is None:
                return self._challenge(text, source, "401 Unauthorized", "WWW-Authenticate")
            if ok:
                self.contacts[user] = _address(_header(text, "Contact"))
            return self._send(self._reply(text, "200 OK" if ok else "403 Forbidden"), source)
        if method == "INVITE":
            user = re.search(r"^From: <sip:([^@]+)@", text, re.M).group(1)
            ok = self._authorised(text, method, "Proxy-Authorization", user)
            if ok is None:
                return self._challenge(text, source, "407 Proxy Authentication Required", "Proxy-Authenticate")
            if not ok:
                return self._send(self._reply(text, "403 Forbidden"), source)
            callee = re.match(r"INVITE sip:([^@]+)@", text).group(1)
            if callee in self.drop:
                self.drop.discard(callee)
                self._bump("dropped")
                return
            self._send(self._reply(text, "100 Trying"), source)
            self.caller_invites[call_id] = (text, source)
            branch = re.search(r"branch=([^;\r]+)", text).group(1)
            head, body = text.split("\r\n\r\n", 1)
            lines = head.split("\r\n")
            forwarded = "\r\n".join([f"INVITE sip:{callee}@{':'.join(map(str, self.contacts[callee]))} SIP/2.0",
                                     f"Via: {self.via};branch={branch}.p",
                                     f"Record-Route: <sip:127.0.0.1:{self.address[1]};lr>"]
                                    + [line for line in lines[1:] if not line.startswith("Proxy-Authorization")])
            self.forwarded[call_id] = forwarded
            return self._send(f"{forwarded}\r\n\r\n{body}", self.contacts[callee])
        if method == "ACK":
            if _header(text, "Route") is not None and not _header(text, "To").endswith("tag=vm"):  # a 2xx's ACK
                self._send(self._forward_in_dialog(text), self._callee_of(text))
            return
        if method == "BYE":
            if (_header(text, "To") or "").endswith("tag=vm"):  # voicemail's own call
                return self._send(self._reply(text, "200 OK", tag="vm"), source)
            return self._send(self._forward_in_dialog(text), self._callee_of(text))

    def _callee_of(self, text: str) -> tuple[str, int]:
        return self.contacts[re.match(r"\w+ sip:([^@]+)@", text).group(1)]

    def _forward_in_dialog(self, text: str) -> str:
        branch = re.search(r"branch=([^;\r]+)", text).group(1)
        lines = [line for line in text.split("\r\n") if not line.startswith("Route:")]
        return "\r\n".join([lines[0], f"Via: {self.via};branch={branch}.p"] + lines[1:])

    def _response(self, text: str) -> None:
        vias = re.findall(r"^Via: ([^\r\n]*)", text, re.M)
        if not vias or not vias[0].startswith(self.via):
            return
        call_id = _header(text, "Call-ID")
        status, method = int(text[8:11]), _header(text, "CSeq").split()[1]
        if method == "CANCEL":
            self._bump("cancel_ok")
            return
        if method == "INVITE" and status == 487:  # the cancelled branch: ACK it, voicemail answers the caller
            self._bump("terminated")
            self._send(self._ack(text), self.contacts[re.search(r"To: <sip:([^@]+)@", text).group(1)])
            invite, source = self.caller_invites[call_id]
            sdp = "v=0\r\no=vm 1 1 IN IP4 127.0.0.1\r\ns=vm\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n"
            return self._send(self._reply(invite, "200 OK", f"Contact: <sip:vm@127.0.0.1:{self.address[1]}>\r\n"
                                          f"Record-Route: <sip:127.0.0.1:{self.address[1]};lr>\r\n"
                                          "Content-Type: application/sdp\r\n", sdp, tag="vm"), source)
        if method == "INVITE" and status == 180:
            self.cancel_at[call_id] = time.monotonic() + 0.3
        if method == "INVITE" and status >= 300:  # hop by hop: the proxy ACKs the callee's refusal
            self._send(self._ack(text), self.contacts[re.search(r"To: <sip:([^@]+)@", text).group(1)])
        rest = re.sub(r"^Via: [^\r\n]*\r\n", "", text, count=1, flags=re.M)
        self._send(rest, _address(vias[1]))

    def _ack(self, response: str) -> str:
        call_id = _header(response, "Call-ID")
        invite = self.forwarded[call_id]
        via = re.search(r"^Via: [^\r\n]*", invite, re.M).group(0)
        return (f"ACK {invite.split(' ')[1]} SIP/2.0\r\n{via}\r\n"
                f"From: {_header(invite, 'From')}\r\nTo: {_header(response, 'To')}\r\nCall-ID: {call_id}\r\n"
                f"CSeq: {_header(invite, 'CSeq').split()[0]} ACK\r\nContent-Length: 0\r\n\r\n")

    def _cancel(self, call_id: str) -> None:
        invite = self.forwarded[call_id]
        head = [re.search(r"^Via: [^\r\n]*", invite, re.M).group(0)]  # (its own Via only: hop by hop)
        head += [line for line in invite.split("\r\n") if line.split(":")[0] in ("From", "To", "Call-ID")]
        number = _header(invite, "CSeq").split()[0]
        text = (f"CANCEL {invite.split(' ')[1]} SIP/2.0\r\n" + "\r\n".join(head) +
                f"\r\nCSeq: {number} CANCEL\r\nContent-Length: 0\r\n\r\n")
        self._send(text, self._callee_of(invite))


@pytest.fixture
def proxy():
    made = []

    def make(drop=()):
        made.append(Proxy(set(drop)))
        return made[-1]

    yield make
    for server in made:
        server.close()


def outcomes_by_step(outcomes):
    steps: dict[str, dict[int, object]] = {}
    for outcome in outcomes:
        steps.setdefault(outcome.step, {})[outcome.pair] = outcome
    return steps


def test_every_pair_calls_with_media_both_ways_and_hangs_up(proxy):
    server = proxy()
    with CallPairs(server.address, REALM, PAIRS, hold=1.0, local_address="127.0.0.1") as pairs:
        registered = pairs.register_callees(timeout=3)
        assert [o.error for o in registered] == [None] * len(PAIRS)
        started = time.monotonic()
        steps = outcomes_by_step(pairs.call_all(timeout=3))
        took = time.monotonic() - started
    assert sorted(steps) == ["bye", "media", "setup"]
    assert all(o.error is None for step in steps.values() for o in step.values()), steps
    assert 1.0 <= took < 2.0  # the calls held together, not one after another
    for outcome in steps["media"].values():
        assert len(outcome.streams) == 2  # the caller's and the callee's
        for stream in outcome.streams:
            quality = stream.quality()
            assert quality.received >= 40 and quality.lost == 0, quality  # 1 s of 20 ms packets


def test_a_lost_invite_is_sent_again_after_t1_and_its_call_still_completes(proxy):
    server = proxy(drop={"callee1"})
    with CallPairs(server.address, REALM, PAIRS, hold=1.0, local_address="127.0.0.1") as pairs:
        pairs.register_callees(timeout=3)
        steps = outcomes_by_step(pairs.call_all(timeout=4))
    assert server.count("dropped") == 1
    assert all(o.error is None for o in steps["setup"].values()), steps["setup"]
    assert steps["setup"][1].ms >= 500  # T1
    assert max(o.ms for n, o in steps["setup"].items() if n != 1) < 300
    assert all(o.error is None for o in steps["bye"].values())


def test_a_busy_callee_fails_only_its_own_call(proxy):
    server = proxy()
    with CallPairs(server.address, REALM, PAIRS, hold=1.0, local_address="127.0.0.1") as pairs:
        pairs.register_callees(timeout=3)
        steps = outcomes_by_step(pairs.call_all([ANSWERED, BUSY, ANSWERED, ANSWERED], timeout=3))
    assert steps["setup"][1].error == "INVITE: 486 Busy Here"
    assert 1 not in steps["bye"] and 1 not in steps["media"]
    assert all(steps["setup"][n].error is None and steps["bye"][n].error is None for n in (0, 2, 3))


def test_a_ringing_callee_is_cancelled_and_the_caller_is_answered_by_voicemail(proxy):
    server = proxy()
    with CallPairs(server.address, REALM, PAIRS, hold=1.0, local_address="127.0.0.1") as pairs:
        pairs.register_callees(timeout=3)
        steps = outcomes_by_step(pairs.call_all([RINGING, ANSWERED, RINGING, ANSWERED], timeout=3))
    assert all(o.error is None for step in steps.values() for o in step.values()), steps
    assert server.count("cancel_ok") == 2 and server.count("terminated") == 2
    assert steps["setup"][0].ms >= 300  # rang until the proxy gave up on the callee
    assert len(steps["media"][0].streams) == 1  # voicemail's call: the callee never answered


def test_a_wrong_password_fails_its_callees_registration_only(proxy):
    server = proxy()
    wrong = [PAIRS[0], (PAIRS[1][0], (PAIRS[1][1][0], "wrong"))] + PAIRS[2:]
    with CallPairs(server.address, REALM, wrong, hold=1.0, local_address="127.0.0.1") as pairs:
        outcomes = {o.pair: o for o in pairs.register_callees(timeout=3)}
    assert outcomes[1].error == "REGISTER: 403 Forbidden"
    assert all(outcomes[n].error is None for n in (0, 2, 3))


def test_junk_on_the_socket_is_dropped_and_every_call_still_completes(proxy):
    server = proxy()
    junk = [b"\x00\xff" * 40, b"SIP/2.0 2x0 OK\r\n\r\n", b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP x;branch=nope\r\n\r\n",
            b"INVITE\r\n\r\n", b"BYE sip:nobody SIP/2.0\r\nCall-ID: unknown\r\n\r\n", b"\r\n\r\n", b"OPTIONS"]
    with CallPairs(server.address, REALM, PAIRS, hold=1.0, local_address="127.0.0.1") as pairs:
        pairs.register_callees(timeout=3)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for datagram in junk:
                sender.sendto(datagram, ("127.0.0.1", pairs.port))
        steps = outcomes_by_step(pairs.call_all(timeout=3))
    assert all(o.error is None for step in steps.values() for o in step.values()), steps
    assert len(steps["bye"]) == len(PAIRS)


def test_between_rounds_the_registrars_keepalives_are_answered(proxy):
    server = proxy()
    with CallPairs(server.address, REALM, PAIRS, hold=1.0, local_address="127.0.0.1") as pairs:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as registrar:
            registrar.bind(("127.0.0.1", 0))
            registrar.settimeout(2)
            host, port = registrar.getsockname()
            registrar.sendto((f"OPTIONS sip:callee0@127.0.0.1:{pairs.port} SIP/2.0\r\n"
                              f"Via: SIP/2.0/UDP {host}:{port};branch=z9hG4bKka1\r\nFrom: <sip:ping@{REALM}>;tag=k\r\n"
                              f"To: <sip:callee0@{REALM}>\r\nCall-ID: ka-1\r\nCSeq: 1 OPTIONS\r\n"
                              "Content-Length: 0\r\n\r\n").encode(), ("127.0.0.1", pairs.port))
            started = time.monotonic()
            pairs.serve(0.3)
            assert time.monotonic() - started >= 0.3
            answer = registrar.recv(65535).decode()
    assert answer.startswith("SIP/2.0 200 OK\r\n") and "branch=z9hG4bKka1" in answer and "Call-ID: ka-1" in answer
