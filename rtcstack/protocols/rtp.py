"""G.711 RTP streams at 20 ms with per-stream quality figures: loss, RFC 3550 jitter, one-way delay and
an E-model (ITU-T G.107) MOS estimate.

Plain sockets and threads, so the same code runs in tests (OS threads) and under Locust (gevent patches
both into greenlets). One `RtpClock` per process sends every active stream's packet on each 20 ms tick and
reads what every open stream received since the last one: hundreds of streams cost one timer and one wake-up
per tick, not a wake-up per packet (measured under gevent, 100 pairs of streams on 127.0.0.1: 6.0 against
11.8 µs of CPU per packet sent and received). Each packet's arrival is the kernel's receive timestamp
(SO_TIMESTAMPNS), so jitter and delay do not depend on when the tick read it.

A load generator goes further (`RtpClock.share_sockets`): its streams share sockets, 64 to a socket, each told
apart by its peer (the media relay's port for that call leg), and each tick sends with one sendmmsg and reads with
recvmmsg per socket (`datagram_batches`): on 127.0.0.1, 200 streams under gevent, 2.0-2.1 against 3.2-3.5 µs of CPU
per packet sent and received with a socket per stream.
"""

from __future__ import annotations

import hashlib
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass

from . import datagram_batches
from .sockets import ANCILLARY, SO_TIMESTAMPNS, arrival, close_waking_readers, stamp_arrivals

PTIME = 0.02
SAMPLES = 160  # 20 ms of 8 kHz G.711
CLOCK_RATE = 8000
PCMU = 0
#: Payload prefix that lets a receiver on the same clock compute one-way delay: magic, host id, send time.
_MAGIC = b"RTCS"
_STAMP = struct.Struct("!4s8sd")
#: The RTP header and the stamp, written into each stream's packet in place.
_HEADER_AND_STAMP = struct.Struct("!BBHII4s8sd")
_pack_into = _HEADER_AND_STAMP.pack_into
_time = time.time
#: A received packet's sequence number and timestamp, with (or without) the stamp after the 12-byte header.
_SEQ_TS_STAMP = struct.Struct("!HI4x4s8sd").unpack_from
_SEQ_TS = struct.Struct("!HI").unpack_from


def _host_id() -> bytes:
    try:
        seed = open("/etc/machine-id", "rb").read().strip()
    except OSError:
        seed = socket.gethostname().encode()
    return hashlib.sha256(seed).digest()[:8]


HOST_ID = _host_id()


def e_model_mos(loss_percent: float, one_way_delay_ms: float, jitter_ms: float = 0.0, bpl: float = 4.3) -> float:
    """MOS-CQE from the E-model (ITU-T G.107) for G.711 (Ie = 0).

    Mouth-to-ear delay = network delay + 20 ms packetisation + a jitter buffer of twice the jitter;
    Bpl 4.3 is G.711 without packet-loss concealment (ITU-T G.113), random loss (BurstR = 1).
    """
    delay = one_way_delay_ms + PTIME * 1000 + 2 * jitter_ms
    idd = 0.024 * delay + (0.11 * (delay - 177.3) if delay > 177.3 else 0.0)
    ie_eff = 95 * loss_percent / (loss_percent + bpl) if loss_percent > 0 else 0.0
    r = max(0.0, min(100.0, 93.2 - idd - ie_eff))
    return 1 + 0.035 * r + 7e-6 * r * (r - 60) * (100 - r)


def jitter_step(jitter: float, previous_transit: float, transit: float) -> float:
    """One step of RFC 3550's interarrival jitter estimator (6.4.1): J += (|D(i-1,i)| - J) / 16, in the
    units of the transit times given."""
    return jitter + (abs(transit - previous_transit) - jitter) / 16


@dataclass
class StreamQuality:
    """What one receiver measured: `expected` from the sequence numbers seen (RFC 3550 A.3)."""

    received: int
    expected: int
    sent: int
    jitter_ms: float
    max_jitter_ms: float
    delay_ms: float | None

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.received)

    @property
    def loss_percent(self) -> float:
        return 100.0 * self.lost / self.expected if self.expected else 0.0

    @property
    def mos(self) -> float:
        return e_model_mos(self.loss_percent, self.delay_ms or 0.0, self.jitter_ms)


def _os_epoll():
    """`select.epoll` as the OS has it: gevent's monkey-patching removes it from `select`, but a poll with no
    timeout never blocks, so the original is safe in a greenlet too. None where there is no epoll."""
    try:
        from gevent import monkey
    except ImportError:
        monkey = None
    if monkey is not None and monkey.is_module_patched("select"):
        return monkey.get_original("select", "epoll")
    import select
    return getattr(select, "epoll", None)


class RtpClock:
    """Each 20 ms, from one thread (greenlet): reads what the open streams received, and sends a packet for
    every stream that is sending. One epoll (without waiting) finds the streams with something to read, so a
    tick costs a system call, not one per stream (most of which would find nothing)."""

    _instance: RtpClock | None = None
    _lock = threading.Lock()
    #: Whether the process's shared clock puts its streams on shared sockets (`share_sockets`).
    _sharing = False

    def __init__(self, share_sockets: bool = False) -> None:
        self.streams: set[RtpStream] = set()  # sending
        self.open: set[RtpStream] = set()  # receiving
        #: Streams on shared sockets (`SharedRtpSocket`), when this clock shares them; else every stream has its own.
        self.sharing = share_sockets and datagram_batches.available()
        self.shared_sockets: list[SharedRtpSocket] = []
        epoll = _os_epoll()
        self._poller = epoll() if epoll is not None else None
        self._by_fd: dict[int, RtpStream] = {}
        self._thread = threading.Thread(target=self._run, daemon=True, name="rtp-clock")
        self._thread.start()

    @classmethod
    def shared(cls) -> RtpClock:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls(cls._sharing)
            return cls._instance

    @classmethod
    def share_sockets(cls) -> None:
        """Put this process's streams on shared sockets from now on (a load generator's many calls: see
        `SharedRtpSocket`). Only for streams whose peers are relays or other hosts: two streams of the process
        that send to each other directly could share a socket and not be told apart."""
        with cls._lock:
            cls._sharing = True
            if cls._instance is not None:
                cls._instance.sharing = datagram_batches.available()

    def socket_for(self, address: str) -> SharedRtpSocket:
        """A shared socket on `address` with room for one more stream (a new one when all are full)."""
        with self._lock:
            for shared in self.shared_sockets:
                if shared.address == address and shared.members < SharedRtpSocket.CAPACITY:
                    break
            else:
                shared = SharedRtpSocket(address)
                self.shared_sockets.append(shared)
            shared.members += 1
            return shared

    def listen(self, stream: RtpStream) -> None:
        self.open.add(stream)
        if self._poller is not None:
            self._by_fd[stream.sock.fileno()] = stream
            self._poller.register(stream.sock.fileno(), 1)  # EPOLLIN

    def forget(self, stream: RtpStream) -> None:
        """Before the stream's socket closes (its descriptor may be reused at once)."""
        self.streams.discard(stream)
        self.open.discard(stream)
        if stream.sock is None:  # on a shared socket
            return
        if self._poller is not None and self._by_fd.get(stream.sock.fileno()) is stream:
            del self._by_fd[stream.sock.fileno()]
            try:
                self._poller.unregister(stream.sock.fileno())
            except OSError:
                pass

    def _read(self) -> None:
        for shared in self.shared_sockets:
            shared.read()
        if self._poller is None:
            for stream in list(self.open):
                stream._drain()
            return
        for _ in range(8):  # a datagram per ready stream and pass; a stream with more is ready again
            ready = self._poller.poll(0)
            if not ready:
                return
            for fd, _ in ready:
                stream = self._by_fd.get(fd)
                if stream is not None:
                    stream._read_one()

    def _run(self) -> None:
        tick = time.monotonic()
        while True:
            self._read()
            now = time.monotonic()
            for stream in list(self.streams):
                stream._tick(now)
            for shared in self.shared_sockets:
                if shared.queued:
                    shared.flush()
            tick += PTIME
            delay = tick - time.monotonic()
            if delay < -0.2:  # far behind (a stalled process): start again rather than burst
                tick = time.monotonic()
            time.sleep(max(0.0, delay))


_TIMESTAMP_CMSG = struct.Struct("@Niiqq").unpack_from  # cmsghdr, then the timespec of SO_TIMESTAMPNS


def _port_bits(key: int) -> int:
    """The port's bits of a `datagram_batches.name_key` (sockaddr_in: family, then the port)."""
    return (key >> 16) & 0xFFFF


class SharedRtpSocket:
    """One UDP socket that up to `CAPACITY` streams of a process send from and receive on, each told apart by
    its peer's address (a relay gives every call leg a port of its own, and sends from the port it receives on).
    A peer that sends from a host no stream's SDP named (a relay behind 1:1 NAT) is matched by its port.

    A load generator's streams then cost two system calls per socket and tick instead of two per packet: each
    tick sends every stream's packet with one sendmmsg and reads everything that arrived with recvmmsg, into
    fixed buffers, with the kernel's receive timestamp of each datagram.

    A stream counts only what arrived after it named its peer (`attach`). The relay frees a call's ports when
    the call ends and gives them to the next call at once; the last datagrams of the call before come from the
    same port to the same socket, and they arrived before the next call's answer named that port (what the
    far end sent before this end read its answer is not counted either: a few milliseconds of the call's start,
    which neither the loss nor the other figures include)."""

    CAPACITY = 64

    def __init__(self, address: str):
        self.address = address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.fd = self.sock.fileno()
        stamped = stamp_arrivals(self.sock)
        self.members = 0
        self.by_peer: dict[int, RtpStream] = {}
        self.by_port: dict[int, RtpStream] = {}  # the same streams by their peer's port (the key's bits 16-31)
        self.peer_hosts: dict[int, int] = {}  # the peers' hosts (the key's bits 32-63): how many streams each
        self.incoming = datagram_batches.DatagramBatch(self.CAPACITY, 2048, ANCILLARY if stamped else 0)
        self.outgoing = datagram_batches.DatagramBatch(self.CAPACITY, 12 + SAMPLES)
        self.outgoing.payloads[:] = b"\xff" * len(self.outgoing.payloads)  # silence-like filler after the stamp
        self.queued = 0
        self._senders: list[RtpStream] = []
        self._lock = threading.Lock()

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
        with self._lock:
            self._detach(stream)

    def _detach(self, stream: RtpStream) -> None:
        if stream._peer_key is not None:
            for key in [k for k, s in self.by_peer.items() if s is stream] if stream._latched else [stream._peer_key]:
                if self.by_peer.get(key) is stream:
                    del self.by_peer[key]
            if self.by_port.get(_port_bits(stream._peer_key)) is stream:
                del self.by_port[_port_bits(stream._peer_key)]
            host = stream._peer_key >> 32
            self.peer_hosts[host] -= 1
            if not self.peer_hosts[host]:
                del self.peer_hosts[host]
        self.members -= 1

    def flush(self) -> None:
        sent = self.outgoing.send(self.fd, self.queued)
        for stream in self._senders[sent:]:  # the kernel refused these: not sent
            stream.sent -= 1
        self.queued = 0
        self._senders.clear()

    def read(self) -> None:
        batch = self.incoming
        headers, names, payloads, controls = batch.headers, batch.names, batch.payloads, batch.controls
        size, control, by_peer = batch.size, batch.control, self.by_peer
        # (per datagram: module attributes read once, here)
        control_and_length, header_size, name_key = (datagram_batches.CONTROL_AND_LENGTH, datagram_batches.HEADER_SIZE,
                                                     datagram_batches.NAME_KEY)
        timestamp_cmsg, sol_socket = _TIMESTAMP_CMSG, socket.SOL_SOCKET
        while True:
            try:
                got = batch.receive(self.fd)
            except OSError:
                return
            for i in range(got):
                control_length, length = control_and_length(headers, i * header_size)
                arrived = None
                if control_length:
                    _, level, kind, seconds, nanoseconds = timestamp_cmsg(controls, i * control)
                    if level == sol_socket and kind == SO_TIMESTAMPNS:
                        arrived = seconds + nanoseconds / 1e9
                if arrived is None:
                    arrived = time.time()
                key = name_key(names, i * 16)[0]
                stream = by_peer.get(key)
                if stream is None:  # a relay behind 1:1 NAT, from a host no stream named: by its port
                    stream = None if key >> 32 in self.peer_hosts else self.by_port.get(_port_bits(key))
                    if stream is None:
                        continue
                    with self._lock:
                        by_peer[key] = stream
                    stream._latched = True
                if arrived >= stream._since:
                    stream._received(payloads, i * size, length, arrived)
            if got < batch.count:
                return


class RtpStream:
    """One RTP endpoint: sends PCMU every 20 ms to the peer for a while, measures what arrives."""

    def __init__(self, address: str, clock: RtpClock | None = None):
        self._clock = clock or RtpClock.shared()
        self._shared = self._clock.socket_for(address) if self._clock.sharing and _ipv4(address) else None
        if self._shared is not None:  # the clock sends and reads for it
            self.sock = None
            self.port = self._shared.port
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sock.bind((address, 0))
            self.sock.settimeout(0)  # read by the clock's tick, never waited on
            self._stamped = stamp_arrivals(self.sock)  # (else a packet's arrival is when the tick read it)
            # The clock's per-packet calls go to the OS socket itself: under gevent, `sock` wraps it with Python
            # methods that only matter to a reader that waits, and this socket is never waited on.
            raw = getattr(self.sock, "_sock", self.sock)
            self._sendto, self._recvmsg, self._recvfrom = raw.sendto, raw.recvmsg, raw.recvfrom
            self.port = self.sock.getsockname()[1]
        self.sent = 0
        self.received = 0
        self.sources: set[tuple[str, int]] = set()  # (not kept on a shared socket: its one source is the peer)
        self._peer: tuple[str, int] | None = None
        self._peer_key: int | None = None
        self._since = 0.0  # on a shared socket: what arrived before this is not the peer's (`SharedRtpSocket`)
        self._latched = False  # also keyed by an address its SDP did not name (on a shared socket)
        self._peer_name = b""
        self._send_until = 0.0
        self._ssrc, self._seq, self._ts = random.getrandbits(32), random.getrandbits(16), random.getrandbits(32)
        # header, stamp, then silence-like filler (on a shared socket, the socket's batch holds the packet)
        self._packet = bytearray(b"\xff" * (12 + SAMPLES)) if self._shared is None else None
        self._done = threading.Event()
        self._closed = threading.Event()
        self._is_closed = False  # _closed, read per packet without a call
        # receiver state (RFC 3550 A.1, A.3, A.8)
        self._base_seq: int | None = None
        self._max_seq = 0
        self._cycles = 0
        self._transit: float | None = None
        self._jitter = 0.0  # in timestamp units
        self._max_jitter = 0.0
        self._delays: list[float] = []
        if self._shared is None:
            self._clock.listen(self)

    # --- sending ---------------------------------------------------------------------------------

    def start(self, peer: tuple[str, int], seconds: float) -> None:
        """Send to peer for `seconds` (from the shared clock); `wait_sent()` returns when done."""
        self._peer = peer
        if self._shared is not None:
            self._peer_name = datagram_batches.sockaddr(*peer)
            self._peer_key = self._shared.attach(self, peer)
        self._send_until = time.monotonic() + seconds
        self._clock.streams.add(self)

    def _tick(self, now: float | None = None) -> None:
        """Send this tick's packet (`now`: the tick's time.monotonic(), read once for every stream)."""
        if self._is_closed or (time.monotonic() if now is None else now) >= self._send_until:
            self._clock.streams.discard(self)
            self._done.set()
            return
        seq, ts = self._seq, self._ts
        shared = self._shared
        if shared is not None:
            slot = shared.queued  # this stream's slot in the tick's sendmmsg (inline: this runs per packet)
            shared.queued = slot + 1
            shared._senders.append(self)
            _pack_into(shared.outgoing.payloads, slot * (12 + SAMPLES), 0x80, PCMU, seq & 0xFFFF, ts & 0xFFFFFFFF,
                       self._ssrc, _MAGIC, HOST_ID, _time())
            shared.outgoing.names[slot * 16:slot * 16 + 16] = self._peer_name
        else:
            _pack_into(self._packet, 0, 0x80, PCMU, seq & 0xFFFF, ts & 0xFFFFFFFF, self._ssrc, _MAGIC, HOST_ID,
                       _time())
            try:
                self._sendto(self._packet, self._peer)
            except OSError:
                return
        self.sent += 1
        self._seq, self._ts = seq + 1, ts + SAMPLES

    def wait_sent(self, timeout: float | None = None) -> None:
        if self._peer is not None:
            self._done.wait(timeout)

    # --- receiving ---------------------------------------------------------------------------------

    def _drain(self) -> None:
        """What arrived since the last tick."""
        while self._read_one():
            pass

    def _read_one(self) -> bool:
        """One datagram, if there is one (False: nothing more until the next tick, or closed)."""
        if self._is_closed:
            return False
        try:
            if self._stamped:
                data, ancillary, _, source = self._recvmsg(2048, ANCILLARY)
                arrived = arrival(ancillary)
            else:
                data, source = self._recvfrom(2048)
                arrived = time.time()
        except OSError:
            return False
        self.sources.add(source)
        self._received(data, 0, len(data), arrived)
        return True

    def _received(self, data, offset: int, length: int, arrival: float) -> None:
        """A datagram of `length` bytes at `offset` in `data` (bytes, or a shared socket's buffer)."""
        if length < 12 or data[offset] >> 6 != 2:
            return
        self.received += 1
        if length >= 12 + _STAMP.size:
            seq, ts, magic, host, sent_at = _SEQ_TS_STAMP(data, offset + 2)
            if magic == _MAGIC and host == HOST_ID:
                self._delays.append(arrival - sent_at)
        else:
            seq, ts = _SEQ_TS(data, offset + 2)
        # RFC 3550 A.1 (sequence, `_sequence`) and A.8 (jitter, `jitter_step`), inline: this runs per packet
        if self._base_seq is None:
            self._base_seq = self._max_seq = seq
        elif 0 < (seq - self._max_seq) & 0xFFFF < 0x8000:  # in order (allowing gaps)
            if seq < self._max_seq:
                self._cycles += 1 << 16
            self._max_seq = seq
        transit = arrival * CLOCK_RATE - ts
        previous = self._transit
        if previous is not None:
            jitter = self._jitter
            jitter += ((transit - previous if transit > previous else previous - transit) - jitter) / 16
            self._jitter = jitter
            if jitter > self._max_jitter:
                self._max_jitter = jitter
        self._transit = transit

    def quality(self) -> StreamQuality:
        expected = 0 if self._base_seq is None else self._cycles + self._max_seq - self._base_seq + 1
        delays = sorted(self._delays)
        return StreamQuality(self.received, expected, self.sent, self._jitter / CLOCK_RATE * 1000,
                             self._max_jitter / CLOCK_RATE * 1000,
                             delays[len(delays) // 2] * 1000 if delays else None)

    def close(self) -> None:
        if self._is_closed:
            return
        self._is_closed = True
        self._closed.set()
        self._clock.forget(self)
        self._done.set()
        if self._shared is not None:
            self._shared.detach(self)
        else:
            close_waking_readers(self.sock)


def _ipv4(address: str) -> bool:
    try:
        socket.inet_aton(address)
    except OSError:
        return False
    return address.count(".") == 3
