"""RTP streams on shared sockets (a load generator's): batches of datagrams per system call, each stream told
apart by its peer, on 127.0.0.1 with real sockets."""

import socket
import struct
import time

import pytest

from rtcstack.protocols import datagram_batches
from rtcstack.protocols.rtp import RtpClock, RtpStream
from rtcstack.protocols.rtp_shared import SharedRtpSocket, SharedSockets

pytestmark = pytest.mark.skipif(not datagram_batches.available(), reason="no recvmmsg/sendmmsg here")


def _peer(address: str = "127.0.0.1", port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, port))
    sock.settimeout(2)
    return sock


def _rtp(seq: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 7) + b"\xff" * 160


def _eventually(condition, seconds: float = 2.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within 2 s"
        time.sleep(0.02)


def test_a_batch_sends_many_datagrams_in_one_call_and_reads_them_with_their_sources():
    sender, receiver = _peer(), _peer()
    outgoing, incoming = datagram_batches.DatagramBatch(8, 32), datagram_batches.DatagramBatch(8, 64)
    try:
        for i in range(5):
            outgoing.payloads[i * 32:i * 32 + 32] = bytes([i]) * 32
            outgoing.names[i * 16:i * 16 + 16] = datagram_batches.sockaddr(*receiver.getsockname())
        assert outgoing.send(sender.fileno(), 5) == 5
        time.sleep(0.05)
        assert incoming.receive(receiver.fileno()) == 5
        assert [incoming.length(i) for i in range(5)] == [32] * 5
        assert [incoming.payloads[i * 64] for i in range(5)] == [0, 1, 2, 3, 4]
        assert {incoming.name_key(i) for i in range(5)} == {datagram_batches.name_key(*sender.getsockname())}
        assert incoming.receive(receiver.fileno()) == 0  # nothing more: no wait
    finally:
        sender.close()
        receiver.close()


def test_streams_on_one_socket_each_get_only_what_their_peer_sent_and_send_to_their_peer():
    clock = RtpClock(share_sockets=True)
    peers = [_peer() for _ in range(3)]
    streams = [RtpStream("127.0.0.1", clock) for _ in peers]
    try:
        assert len({s.port for s in streams}) == 1  # one socket
        for stream, peer in zip(streams, peers):
            stream.start(peer.getsockname(), 0.2)
        for n, (stream, peer) in enumerate(zip(streams, peers)):
            for seq in range(3 + 2 * n):
                peer.sendto(_rtp(seq), ("127.0.0.1", stream.port))
        _eventually(lambda: [s.received for s in streams] == [3, 5, 7])
        assert [s.quality().lost for s in streams] == [0, 0, 0]
        for stream in streams:
            stream.wait_sent(2)
        for stream, peer in zip(streams, peers):
            data, source = peer.recvfrom(2048)
            assert source == ("127.0.0.1", stream.port) and len(data) == 172 and stream.sent >= 8
    finally:
        for s in streams + peers:
            s.close()


def test_what_arrived_before_a_stream_named_its_peer_is_not_counted_as_that_peers():
    """The relay gives a call's ports to the next call as soon as it ends: the last datagrams of the call before
    come from the port the next call's stream will name, to the same socket."""
    clock = RtpClock(share_sockets=True)
    earlier, relay_port = RtpStream("127.0.0.1", clock), _peer()
    try:
        earlier.start(relay_port.getsockname(), 0.02)
        earlier.close()  # the call before ended; its last datagram is still on its way
        stream = RtpStream("127.0.0.1", clock)  # the next call's stream, on the same socket
        relay_port.sendto(_rtp(40000), ("127.0.0.1", stream.port))
        time.sleep(0.005)
        stream.start(relay_port.getsockname(), 0.02)  # the next call's answer names the same relay port
        for seq in (7, 8):
            relay_port.sendto(_rtp(seq), ("127.0.0.1", stream.port))
        _eventually(lambda: stream.received == 2)
        time.sleep(0.1)
        quality = stream.quality()
        assert (stream.received, quality.expected, quality.lost) == (2, 2, 0)
        stream.close()
    finally:
        relay_port.close()


def test_a_peer_sending_from_another_address_than_its_sdp_named_is_matched_by_its_port():
    clock = RtpClock(share_sockets=True)
    behind_nat = _peer("127.0.0.2")
    stream = RtpStream("127.0.0.1", clock)
    try:
        stream.start(("127.0.0.1", behind_nat.getsockname()[1]), 0.02)  # the address its SDP gave
        for seq in range(3):
            behind_nat.sendto(_rtp(seq), ("127.0.0.1", stream.port))
        _eventually(lambda: stream.received == 3)
    finally:
        stream.close()
        behind_nat.close()


def test_a_full_socket_gives_the_next_stream_a_socket_of_its_own_and_closing_frees_the_room():
    clock = RtpClock(share_sockets=True)
    streams = [RtpStream("127.0.0.1", clock) for _ in range(SharedRtpSocket.CAPACITY + 1)]
    try:
        assert len({s.port for s in streams}) == 2
        assert [s.members for s in clock.shared_sockets] == [SharedRtpSocket.CAPACITY, 1]
    finally:
        for stream in streams:
            stream.close()
    assert [s.members for s in clock.shared_sockets] == [0, 0]
    again = RtpStream("127.0.0.1", clock)
    assert again.port == streams[0].port
    again.close()


def test_a_second_relays_early_packets_from_the_same_port_number_are_not_taken_for_another_streams():
    clock = RtpClock(share_sockets=True)
    relay_one = _peer("127.0.0.1")
    relay_two_leg = _peer("127.0.0.2")  # a stream of this socket already uses the second relay
    x, z = RtpStream("127.0.0.1", clock), RtpStream("127.0.0.1", clock)
    same_port_on_relay_two = _peer("127.0.0.2", relay_one.getsockname()[1])  # a leg whose stream has not started
    try:
        x.start(relay_one.getsockname(), 0.02)
        z.start(relay_two_leg.getsockname(), 0.02)
        for seq in range(3):
            same_port_on_relay_two.sendto(_rtp(seq), ("127.0.0.1", x.port))
        relay_one.sendto(_rtp(9), ("127.0.0.1", x.port))
        _eventually(lambda: x.received == 1)
        time.sleep(0.1)
        assert (x.received, z.received) == (1, 0)
    finally:
        for s in (x, z, relay_one, relay_two_leg, same_port_on_relay_two):
            s.close()



def test_a_stream_that_stops_sending_leaves_the_others_packets_in_order_with_their_own_ssrc():
    clock = RtpClock(share_sockets=True)
    peers = [_peer() for _ in range(3)]
    streams = [RtpStream("127.0.0.1", clock) for _ in peers]
    try:
        for stream, peer, seconds in zip(streams, peers, (0.4, 0.1, 0.4)):
            stream.start(peer.getsockname(), seconds)
        for stream in streams:
            stream.wait_sent(2)
        for stream, peer in zip(streams, peers):
            packets = []
            peer.settimeout(0.1)
            try:
                while True:
                    packets.append(struct.unpack("!BBHII", peer.recv(2048)[:12]))
            except TimeoutError:
                pass
            assert len(packets) == stream.sent and len(packets) >= 4
            first = packets[0]
            assert all(p[4] == first[4] == stream._ssrc for p in packets)
            assert [p[2] for p in packets] == [(first[2] + i) & 0xFFFF for i in range(len(packets))]
            assert [p[3] for p in packets] == [(first[3] + 160 * i) & 0xFFFFFFFF for i in range(len(packets))]
        assert streams[1].sent < streams[0].sent
    finally:
        for s in streams + peers:
            s.close()


class _Recorder:
    """What a shared socket hands a stream: each datagram's length and arrival."""

    def __init__(self):
        self.got: list[tuple[int, float]] = []
        self._latched = False

    def _received(self, data, offset: int, length: int, arrival: float) -> None:
        self.got.append((length, arrival))


def test_a_datagram_arrives_when_the_kernel_took_it_not_when_the_batch_was_read():
    """The jitter and one-way delay of a stream are measured on the kernel's receive timestamps: a tick that read
    its batch late must not make every datagram in it look late."""
    pool = SharedSockets(172, 160)
    shared, peer, recorder = pool.socket_for("127.0.0.1"), _peer(), _Recorder()
    try:
        shared.attach(recorder, peer.getsockname())
        sent = time.time()
        peer.sendto(_rtp(1), ("127.0.0.1", shared.port))
        peer.sendto(_rtp(2)[:40], ("127.0.0.1", shared.port))
        time.sleep(0.3)
        shared.read()
        assert [length for length, _ in recorder.got] == [64, 40]  # (a longer one is cut to the read slot)
        assert all(abs(arrival - sent) < 0.1 for _, arrival in recorder.got), (sent, recorder.got)
    finally:
        peer.close()
        shared.sock.close()
