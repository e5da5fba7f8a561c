"""The user agent's callee side over loopback UDP, against a raw socket playing the caller (no proxy)."""

import socket
import time

from rtcstack.protocols.sip.agent import UserAgent
from rtcstack.protocols.sip.message import parse, request


def invite_from(caller: socket.socket, agent: UserAgent) -> bytes:
    host, port = caller.getsockname()
    offer = (f"v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
             f"m=audio 9 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n").encode()
    message = request("INVITE", f"sip:callee@{agent.address}:{agent.local_port}", [
        ("Via", f"SIP/2.0/UDP {host}:{port};branch=z9hG4bK-test-1"), ("Max-Forwards", "70"),
        ("From", "<sip:caller@test>;tag=c1"), ("To", "<sip:callee@test>"), ("Call-ID", "answer-test@127.0.0.1"),
        ("CSeq", "1 INVITE"), ("Contact", f"<sip:caller@{host}:{port}>"), ("Content-Type", "application/sdp"),
    ], offer)
    return message.encode()


def in_dialog(method: str, cseq: int, caller: socket.socket, agent: UserAgent) -> bytes:
    """The caller's next request in the call the agent answered (an ACK or a BYE), with the answer's To tag."""
    answer = parse(agent.incoming[0].last_response.encode())
    return request(method, f"sip:callee@127.0.0.1:{agent.local_port}", [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:{caller.getsockname()[1]};branch=z9hG4bK-test-{method.lower()}"),
        ("From", "<sip:caller@test>;tag=c1"), ("To", answer.get("to")), ("Call-ID", "answer-test@127.0.0.1"),
        ("CSeq", f"{cseq} {method}"), ("Max-Forwards", "70")]).encode()


def replies(caller: socket.socket, seconds: float) -> list[float]:
    """Arrival times of the 200s the caller gets within `seconds`."""
    arrivals, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        caller.settimeout(left)
        try:
            data = caller.recv(65535)
        except TimeoutError:
            break
        if parse(data).status == 200:
            arrivals.append(time.monotonic())
    return arrivals


def test_the_200_is_repeated_with_timer_g_backoff_until_the_ack_comes():
    with UserAgent("127.0.0.1", 9, "test", "callee", "x", local_address="127.0.0.1", t1=0.05) as agent, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller:
        caller.bind(("127.0.0.1", 0))
        caller.sendto(invite_from(caller, agent), ("127.0.0.1", agent.local_port))
        start = time.monotonic()
        arrivals = replies(caller, 0.9)
        # 200 at once, then after 50, 100, 200, 400 ms (T1 doubling): 5 by 0.9 s
        assert len(arrivals) == 5, [round(t - start, 3) for t in arrivals]
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
        assert all(later > earlier * 1.5 for earlier, later in zip(gaps, gaps[1:])), gaps
        caller.sendto(in_dialog("ACK", 1, caller, agent), ("127.0.0.1", agent.local_port))
        assert replies(caller, 1.2) == [], "the 200 was repeated after the ACK"  # without it, due at 1.55 s
        assert agent.incoming[0].answered


def test_the_callee_stops_its_media_when_the_bye_comes():
    """The relay frees a call's ports on the BYE and may give them to the next call at once: a stream still
    listening would count that call's media as its own."""
    with UserAgent("127.0.0.1", 9, "test", "callee", "x", local_address="127.0.0.1", rtp_seconds=5) as agent, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller:
        caller.bind(("127.0.0.1", 0))
        caller.sendto(invite_from(caller, agent), ("127.0.0.1", agent.local_port))
        assert replies(caller, 0.3)
        caller.sendto(in_dialog("BYE", 2, caller, agent), ("127.0.0.1", agent.local_port))
        assert agent.incoming[0].ended.wait(2)
        stream = agent.incoming[0].rtp
        sent = stream.sent
        time.sleep(0.2)
        assert stream.sent == sent, "the callee kept sending after the BYE"


#: A registrar on loopback answering one OPTIONS, and an agent imported before gevent patches the process, as a
#: benchmark imports it before it loads its site (pyinfra's CLI package patches on import).
PATCHED_AFTER_IMPORT = r"""
import socket, threading
from rtcstack.protocols.sip.agent import UserAgent
from rtcstack.protocols.sip.message import parse, response_to
from gevent import monkey
monkey.patch_all()

server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("127.0.0.1", 0))

def answer():
    data, source = server.recvfrom(65535)
    server.sendto(response_to(parse(data), 200, "OK").encode(), source)

threading.Thread(target=answer, daemon=True).start()
with UserAgent("127.0.0.1", server.getsockname()[1], "test", "u", "p", local_address="127.0.0.1") as agent:
    reply = agent.options(timeout=3)
    print(reply.status if reply else "no answer")
"""


def test_an_agent_imported_before_gevent_patches_the_process_still_gets_its_answers():
    """voicemail_sessions imported the agent, then loaded its site: gevent made the reader a greenlet while the
    transaction waited on the C SimpleQueue bound at import, which never yields: every request of every caller timed
    out (2026-12-07, 10 of 10 and 25 of 25 calls '408 No answer (timeout)')."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", PATCHED_AFTER_IMPORT], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "200", done.stdout + done.stderr
