"""The gateway's SDP and its RTP relay (real UDP sockets on the loopback)."""

import socket
import struct
import time

from rtcstack.gateway import sdp
from rtcstack.gateway.relay import Relay

ANSWER = (b"v=0\r\no=- 1 1 IN IP4 198.18.10.13\r\ns=-\r\nc=IN IP4 198.18.10.13\r\nt=0 0\r\n"
          b"m=audio 30000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
          b"m=video 30002 RTP/AVP 109\r\nc=IN IP4 198.18.10.99\r\na=rtpmap:109 H264/90000\r\n")


def test_the_answer_gives_each_stream_its_address_port_and_payload_type():
    assert sdp.accepted(ANSWER, "audio", "PCMU") == (("198.18.10.13", 30000), 0)
    assert sdp.accepted(ANSWER, "video", "H264") == (("198.18.10.99", 30002), 109)
    assert sdp.accepted(ANSWER, "video", "VP8") is None


def test_a_refused_stream_port_0_is_not_accepted():
    refused = ANSWER.replace(b"m=video 30002", b"m=video 0")
    assert sdp.accepted(refused, "video", "H264") is None


def test_the_offer_pins_h264_42e01f_packetization_mode_1():
    offer = sdp.offer("10.0.0.1", 26000, 26002, 7).decode()
    assert "m=video 26002 RTP/AVP 96" in offer and "profile-level-id=42e01f;packetization-mode=1" in offer
    assert sdp.accepted(offer.encode(), "audio", "PCMU") == (("10.0.0.1", 26000), 0)


def test_the_answer_gives_the_rtcp_address_from_a_rtcp_or_the_port_above():
    assert sdp.rtcp_of(ANSWER, "audio") == ("198.18.10.13", 30001)
    with_attribute = ANSWER.replace(b"a=rtpmap:109", b"a=rtcp:31005\r\na=rtpmap:109")
    assert sdp.rtcp_of(with_attribute, "video") == ("198.18.10.99", 31005)


def _listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(2)
    return sock


def test_the_relay_binds_rtp_and_rtcp_on_adjacent_ports():
    relay = Relay("127.0.0.1", (40000, 41000), ("phone", "janus"))
    try:
        for name in ("phone", "janus"):
            assert relay.port(name) % 2 == 0 and relay.port(f"{name}_rtcp") == relay.port(name) + 1
    finally:
        relay.close()


def test_the_relay_forwards_from_the_paired_socket_and_rewrites_the_payload_type():
    relay = Relay("127.0.0.1", (40000, 41000), ("phone", "janus"))
    far = _listener()
    relay.route("phone", "janus", far.getsockname(), 96)
    relay.start()
    try:
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        packet = struct.pack("!BBHII", 0x80, 0x80 | 109, 1, 2, 3) + b"nal"
        sender.sendto(packet, ("127.0.0.1", relay.port("phone")))
        data, source = far.recvfrom(2048)
        assert source == ("127.0.0.1", relay.port("janus"))  # symmetric: Janus sees the port it sends to
        assert data[1] == 0x80 | 96 and data[2:] == packet[2:]  # marker kept, payload type rewritten
        sender.sendto(b"not rtp", ("127.0.0.1", relay.port("phone")))
        time.sleep(0.2)
        assert relay.counters() == {"phone>janus": 1}
    finally:
        relay.close()


def test_rtcp_fans_out_unchanged_and_reaches_a_peer_at_the_address_its_own_packets_came_from():
    """The phone's PLI goes to the mountpoint (a known port) and to the forwarder, whose port only its own
    RTCP tells: nothing goes there before that."""
    relay = Relay("127.0.0.1", (40000, 41000), ("phone", "forwarder", "mount"))
    mount, forwarder = _listener(), _listener()
    relay.route("phone_rtcp", "mount_rtcp", mount.getsockname())
    relay.route("phone_rtcp", "forwarder_rtcp", relay.latched("forwarder_rtcp"))
    relay.start()
    try:
        phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        pli = struct.pack("!BBHII", 0x81, 206, 2, 1, 2)
        phone.sendto(pli, ("127.0.0.1", relay.port("phone_rtcp")))
        assert mount.recvfrom(2048)[0] == pli  # RTCP's packet type is never rewritten
        forwarder.sendto(struct.pack("!BBHI", 0x80, 201, 1, 9), ("127.0.0.1", relay.port("forwarder_rtcp")))
        time.sleep(0.2)
        phone.sendto(pli, ("127.0.0.1", relay.port("phone_rtcp")))
        assert forwarder.recvfrom(2048) == (pli, ("127.0.0.1", relay.port("forwarder_rtcp")))
        assert relay.counters() == {"phone_rtcp>mount_rtcp": 2, "phone_rtcp>forwarder_rtcp": 1}
    finally:
        relay.close()
