"""RTP streams on shared sockets, a load generator's (`RtpClock.share_sockets`): up to 64 streams per UDP socket,
each told apart by its peer; each tick sends every socket's packets with one sendmmsg and reads what arrived with
recvmmsg (`datagram_batches`).

Sending is done by numpy for all the process's streams at once, not by Python per packet. All the sockets of a
clock share one `SharedSockets` and its outgoing batch, socket i using slots 64*i...: a socket's sending streams
hold the first of its slots, each slot its stream's packet (header and stamp written once, at the start) and its
peer's address. A tick adds one to every sequence number and 160 to every timestamp and writes the send time
(array operations over every slot of the process), then sends each socket's slots. A stream whose time is up gives
its slot to its socket's last sending stream.

Measured with 200 streams on 127.0.0.1 (each tick's CPU, the system calls left out): sending 216-229 µs per tick
against 462-487 µs with a Python call per stream (timed per call, which adds to that figure). Receiving stays per
datagram, in Python (`RtpStream._received`), into 64-byte slots: the same done by numpy over a tick's datagrams
(sources matched to streams through sorted keys, the jitter estimator in rounds) read a tick in 1,190-1,228 against
848-921 µs, recvmmsg included: some 60 array operations, each slow on caches the kernel's packet work had just
emptied. docs/benchmarks.md has the runs.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import TYPE_CHECKING

import numpy as np

from . import datagram_batches
from .sockets import ANCILLARY, SO_TIMESTAMPNS, stamp_arrivals

if TYPE_CHECKING:
    from .rtp import RtpStream

#: What a tick changes in each sending slot's packet: sequence number, timestamp, send time (network order; the
#: packet's layout is `rtp`'s: header, then the stamp).
_STEPPED = {"names": ["seq", "ts", "sent_at"], "formats": [">u2", ">u4", ">f8"], "offsets": [2, 4, 24]}
#: Bytes read of each datagram: the header and the stamp are all a stream measures; the rest of a longer one is cut
#: off by the kernel (its length is then what was read). Small slots keep a batch in the CPU's caches.
READ = 64
#: A receive timestamp's cmsg_level and cmsg_type (two ints) read as the one 8-byte word they make.
_TIMESTAMP_KIND = struct.unpack("@q", struct.pack("@ii", socket.SOL_SOCKET, SO_TIMESTAMPNS))[0]


def _port_bits(key: int) -> int:
    """The port's bits of a `datagram_batches.name_key` (sockaddr_in: family, then the port)."""
    return (key >> 16) & 0xFFFF


class SharedRtpSocket:
    """One UDP socket that up to `CAPACITY` streams of a process send from and receive on, each told apart by
    its peer's address (a relay gives every call leg a port of its own, and sends from the port it receives on).
    A peer that sends from a host no stream's SDP named (a relay behind 1:1 NAT) is matched by its port.

    A stream counts only what arrived after it named its peer (`attach`). The relay frees a call's ports when
    the call ends and gives them to the next call at once; the last datagrams of the call before come from the
    same port to the same socket, and they arrived before the next call's answer named that port (what the
    far end sent before this end read its answer is not counted either: a few milliseconds of the call's start,
    which neither the loss nor the other figures include)."""

    CAPACITY = 64

    def __init__(self, pool: SharedSockets, number: int, address: str):
        self.pool, self.address = pool, address
        self.first = number * self.CAPACITY  # its slots of the pool's outgoing batch
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 0))
        self.sock.setblocking(False)
        stamped = stamp_arrivals(self.sock)
        self.port = self.sock.getsockname()[1]
        self.fd = self.sock.fileno()
        self.members = 0
        self.by_peer: dict[int, RtpStream] = {}
        self.by_port: dict[int, RtpStream] = {}  # the same streams by their peer's port (the key's bits 16-31)
        self.peer_hosts: dict[int, int] = {}  # the peers' hosts (the key's bits 32-63): how many streams each
        self.incoming = datagram_batches.DatagramBatch(self.CAPACITY, READ, ANCILLARY if stamped else 0)
        self.sending = 0
        self.senders: list[RtpStream | None] = [None] * self.CAPACITY
        self._lock = pool._lock

    def attach(self, stream: RtpStream, peer: tuple[str, int]) -> int:
        """Route what `peer` sends here from now on to `stream`: the peer's key."""
        key = datagram_batches.name_key(*peer)
        stream._since = time.time()  # (wall clock, as the kernel's receive timestamps are)
        with self._lock:
            self.by_peer[key] = stream
            self.by_port[_port_bits(key)] = stream
            self.peer_hosts[key >> 32] = self.peer_hosts.get(key >> 32, 0) + 1
        return key

    def detach(self, stream: RtpStream) -> None:
        """The stream closes: it stops sending, and what its peer sends is no longer its."""
        with self._lock:
            if stream._send_slot is not None:
                self.pool._stop_sending(self, stream._send_slot)
            if stream._peer_key is not None:
                for key in [k for k, s in self.by_peer.items() if s is stream] if stream._latched \
                        else [stream._peer_key]:
                    if self.by_peer.get(key) is stream:
                        del self.by_peer[key]
                if self.by_port.get(_port_bits(stream._peer_key)) is stream:
                    del self.by_port[_port_bits(stream._peer_key)]
                host = stream._peer_key >> 32
                self.peer_hosts[host] -= 1
                if not self.peer_hosts[host]:
                    del self.peer_hosts[host]
            self.members -= 1

    def start_sending(self, stream: RtpStream, until: float, header: bytes) -> None:
        self.pool.start_sending(self, stream, until, header)

    def sent_by(self, stream: RtpStream) -> int:
        return self.pool.sent_by(self, stream)

    def read(self) -> None:
        """What arrived since the last tick, batch by batch, each datagram to its stream."""
        batch = self.incoming
        payloads, size, by_peer = batch.payloads, batch.size, self.by_peer
        # (per datagram: the batch's buffers read as machine words, module attributes read once, here)
        words, ints, names, controls = batch.header_words, batch.header_ints, batch.name_words, batch.control_words
        controllen, length_at = datagram_batches.CONTROLLEN_WORD, datagram_batches.LENGTH_INT
        per_header, per_header_int = datagram_batches.HEADER_WORDS, datagram_batches.HEADER_INTS
        per_control = batch.control // 8
        while True:
            try:
                got = batch.receive(self.fd)
            except OSError:
                return
            for i in range(got):
                arrived = None
                if controls is not None and words[i * per_header + controllen]:
                    at = i * per_control
                    if controls[at + 1] == _TIMESTAMP_KIND:  # cmsghdr: length, (level, type), then the timespec
                        arrived = controls[at + 2] + controls[at + 3] / 1e9
                if arrived is None:
                    arrived = time.time()
                key = names[i * 2]
                stream = by_peer.get(key)
                if stream is None:  # a relay behind 1:1 NAT, from a host no stream named: by its port
                    stream = None if key >> 32 in self.peer_hosts else self.by_port.get(_port_bits(key))
                    if stream is None:
                        continue
                    with self._lock:
                        by_peer[key] = stream
                    stream._latched = True
                if arrived >= stream._since:
                    stream._received(payloads, i * size, ints[i * per_header_int + length_at], arrived)
            if got < batch.count:
                return


class SharedSockets:
    """A clock's shared sockets and their one outgoing batch (see the module's docstring): packets of `packet`
    bytes whose timestamps step by `samples` each tick."""

    #: Sockets one process can share out (64 streams each); a stream beyond gets a socket of its own.
    MAX_SOCKETS = 64

    def __init__(self, packet: int, samples: int) -> None:
        slots = self.MAX_SOCKETS * SharedRtpSocket.CAPACITY
        self.packet, self.samples = packet, samples
        self.sockets: list[SharedRtpSocket] = []
        self._lock = threading.RLock()
        self.outgoing = datagram_batches.DatagramBatch(slots, packet)
        self.outgoing.payloads[:] = b"\xff" * len(self.outgoing.payloads)  # silence-like filler after the stamp
        self._out = np.frombuffer(self.outgoing.payloads, np.dtype({**_STEPPED, "itemsize": packet}))
        self._until = np.full(slots, np.inf)  # by slot: when its stream stops (time.monotonic())
        self._sent = np.zeros(slots, np.int64)  # by slot: what the kernel took from its stream

    def socket_for(self, address: str) -> SharedRtpSocket | None:
        """A socket on `address` with room for one more stream (a new one when all are full), the stream counted
        in; None when this process has shared out all it may."""
        with self._lock:
            for shared in self.sockets:
                if shared.address == address and shared.members < SharedRtpSocket.CAPACITY:
                    break
            else:
                if len(self.sockets) == self.MAX_SOCKETS:
                    return None
                shared = SharedRtpSocket(self, len(self.sockets), address)
                self.sockets.append(shared)
            shared.members += 1
            return shared

    def read(self) -> None:
        for shared in self.sockets:
            shared.read()

    def sent_by(self, shared: SharedRtpSocket, stream: RtpStream) -> int:
        """Packets the kernel took from this stream so far."""
        with self._lock:
            slot = stream._send_slot
            return stream._sent_total + (int(self._sent[shared.first + slot]) if slot is not None else 0)

    def start_sending(self, shared: SharedRtpSocket, stream: RtpStream, until: float, header: bytes) -> None:
        """The stream sends a packet each tick from now until `until` (time.monotonic()); `header`: its header
        and stamp with the numbers one step before its first packet's (each tick steps them, then sends)."""
        with self._lock:
            slot = shared.sending
            at = shared.first + slot
            self.outgoing.payloads[at * self.packet:at * self.packet + len(header)] = header
            self.outgoing.names[at * 16:at * 16 + 16] = stream._peer_name
            self._until[at], self._sent[at] = until, 0
            shared.senders[slot] = stream
            stream._send_slot = slot
            shared.sending = slot + 1

    def _stop_sending(self, shared: SharedRtpSocket, slot: int) -> None:
        """The stream in `slot` of `shared` stops; the socket's last sending stream moves into its slot."""
        stream = shared.senders[slot]
        at, last, size = shared.first + slot, shared.sending - 1, self.packet
        stream._sent_total += int(self._sent[at])
        stream._send_slot = None
        if slot != last:
            payloads, names, end = self.outgoing.payloads, self.outgoing.names, shared.first + last
            payloads[at * size:(at + 1) * size] = payloads[end * size:(end + 1) * size]
            names[at * 16:at * 16 + 16] = names[end * 16:end * 16 + 16]
            self._until[at], self._sent[at] = self._until[end], self._sent[end]
            moved = shared.senders[slot] = shared.senders[last]
            moved._send_slot = slot
        self._until[shared.first + last] = np.inf
        shared.senders[last] = None
        shared.sending = last
        stream._done.set()

    def tick(self, now: float) -> None:
        """This tick's packet of every sending stream: one sendmmsg per socket (`now`: the tick's
        time.monotonic())."""
        with self._lock:
            used = len(self.sockets) * SharedRtpSocket.CAPACITY
            capacity = SharedRtpSocket.CAPACITY
            for at in np.flatnonzero(self._until[:used] <= now)[::-1]:
                self._stop_sending(self.sockets[at // capacity], int(at % capacity))
            # Every slot's numbers and count first, in one burst of array operations (slots nobody sends from
            # too: a stream that starts writes its whole header), then the system calls, whose packet work in the
            # kernel leaves the CPU's caches cold for whatever runs after.
            out = self._out[:used]
            out["seq"] += 1
            out["ts"] += self.samples
            self._sent[:used] += 1
            out["sent_at"] = time.time()
            for shared in self.sockets:
                if shared.sending:
                    sent = self.outgoing.send(shared.fd, shared.sending, shared.first)
                    if sent < shared.sending:  # refused by the kernel: lost (their numbers are skipped)
                        self._sent[shared.first + sent:shared.first + shared.sending] -= 1
