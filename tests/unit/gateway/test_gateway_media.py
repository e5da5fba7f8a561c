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


def test_the_relay_forwards_from_the_paired_socket_and_rewrites_the_payload_type():
    relay = Relay("127.0.0.1", (40000, 41000), ("phone", "janus"))
    far = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    far.bind(("127.0.0.1", 0))
    far.settimeout(2)
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
        assert relay.counters() == {"phone": 1}
    finally:
        relay.close()
