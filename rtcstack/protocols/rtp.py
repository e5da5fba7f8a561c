"""G.711 RTP streams at 20 ms with per-stream quality figures: loss, RFC 3550 jitter, one-way delay and
an E-model (ITU-T G.107) MOS estimate.

Plain sockets and threads, so the same code runs in tests (OS threads) and under Locust (gevent patches
both into greenlets). One `RtpClock` per process sends every active stream's packet on each 20 ms tick and
reads what every open stream received since the last one: hundreds of streams cost one timer and one wake-up
per tick, not a wake-up per packet (measured under gevent, 100 pairs of streams on 127.0.0.1: 6.0 against
11.8 µs of CPU per packet sent and received). Each packet's arrival is the kernel's receive timestamp
(SO_TIMESTAMPNS), so jitter and delay do not depend on when the tick read it.

A load generator goes further (`RtpClock.share_sockets`, `rtp_shared`): its streams share sockets, 64 to a socket,
each told apart by its peer (the media relay's port for that call leg), and each tick sends with one sendmmsg and
reads with recvmmsg per socket (`datagram_batches`): on 127.0.0.1, 200 streams under gevent, 2.0-2.1 against 3.2-3.5
µs of CPU per packet sent and received with a socket per stream. Their packets are stepped by numpy, all at once.
"""

from __future__ import annotations

import hashlib
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import datagram_batches
from .sockets import ANCILLARY, arrival, close_waking_readers, stamp_arrivals

if TYPE_CHECKING:
    from .rtp_shared import SharedRtpSocket, SharedSockets

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
        #: Streams on shared sockets (`rtp_shared`), when this clock shares them; else every stream has its own.
        self.sharing = share_sockets and datagram_batches.available()
        self._pool: SharedSockets | None = None
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
        that send to each other directly could share a socket and not be told apart.

        Their module (and numpy) is imported here, when the load generator loads its scenario, not by its first
        call's stream: that import took a quarter of a CPU-second, and stalled every user for as long, inside the
        load's own time (py-spy, 280 users of sip_calls)."""
        from . import rtp_shared  # noqa: F401

        with cls._lock:
            cls._sharing = True
            if cls._instance is not None:
                cls._instance.sharing = datagram_batches.available()

    @property
    def shared_sockets(self) -> list[SharedRtpSocket]:
        return self._pool.sockets if self._pool is not None else []

    def socket_for(self, address: str) -> SharedRtpSocket | None:
        """A shared socket on `address` with room for one more stream (a new one when all are full), the stream
        counted in; None when this process shares out no more sockets."""
        with self._lock:
            if self._pool is None:
                from .rtp_shared import SharedSockets

                self._pool = SharedSockets(12 + SAMPLES, SAMPLES)
        return self._pool.socket_for(address)

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
        if self._pool is not None:
            self._pool.read()
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
            if self._pool is not None:
                self._pool.tick(now)
            tick += PTIME
            delay = tick - time.monotonic()
            if delay < -0.2:  # far behind (a stalled process): start again rather than burst
                tick = time.monotonic()
            time.sleep(max(0.0, delay))


class RtpStream:
    """One RTP endpoint: sends PCMU every 20 ms to the peer for a while, measures what arrives."""

    def __init__(self, address: str, clock: RtpClock | None = None):
        self._clock = clock or RtpClock.shared()
        self._shared = self._clock.socket_for(address) if self._clock.sharing and _ipv4(address) else None
        self._send_slot: int | None = None  # on a shared socket, while sending: its slot of the outgoing batch
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
        self._sent_total = 0
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
        self._send_until = time.monotonic() + seconds
        if self._shared is not None:
            self._peer_name = datagram_batches.sockaddr(*peer)
            self._peer_key = self._shared.attach(self, peer)
            before = _HEADER_AND_STAMP.pack(0x80, PCMU, (self._seq - 1) & 0xFFFF, (self._ts - SAMPLES) & 0xFFFFFFFF,
                                            self._ssrc, _MAGIC, HOST_ID, 0.0)  # (stepped before each send)
            self._shared.start_sending(self, self._send_until, before)
            return
        self._clock.streams.add(self)

    def _tick(self, now: float | None = None) -> None:
        """Send this tick's packet (`now`: the tick's time.monotonic(), read once for every stream). On a socket
        of its own: a shared socket's streams are sent by the socket (`SharedRtpSocket.tick`)."""
        if self._is_closed or (time.monotonic() if now is None else now) >= self._send_until:
            self._clock.streams.discard(self)
            self._done.set()
            return
        seq, ts = self._seq, self._ts
        _pack_into(self._packet, 0, 0x80, PCMU, seq & 0xFFFF, ts & 0xFFFFFFFF, self._ssrc, _MAGIC, HOST_ID, _time())
        try:
            self._sendto(self._packet, self._peer)
        except OSError:
            return
        self._sent_total += 1
        self._seq, self._ts = seq + 1, ts + SAMPLES

    @property
    def sent(self) -> int:
        """Packets sent so far."""
        return self._shared.sent_by(self) if self._shared is not None else self._sent_total


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
