"""SIP transports for the user agent: UDP datagrams, or one TCP connection framed by Content-Length.

Plain blocking sockets with timeouts: OS threads in tests, greenlets under Locust (gevent patches them).
"""

from __future__ import annotations

import re
import socket

from ..sockets import close_waking_readers

_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*$", re.IGNORECASE | re.MULTILINE)
MAX_MESSAGE = 65535
#: RFC 3261 17.1.2.2: a non-INVITE request over UDP is retransmitted at T1, doubling up to T2.
T1, T2 = 0.5, 4.0


def local_address_towards(host: str, port: int) -> str:
    """The address of this machine that reaches host (what a peer sees as our source)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect((host, port))
        return probe.getsockname()[0]
    finally:
        probe.close()


class UdpTransport:
    name = "UDP"
    reliable = False

    def __init__(self, address: str, server: tuple[str, int]):
        self.server = server
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 0))
        #: How long receive() waits (None: until a datagram comes or close() wakes it). A reader that has
        #: timers of its own (the 200's repeats) sets it; an idle reader costs no wake-ups.
        self.timeout: float | None = None
        self.sock.settimeout(None)
        self._timeout_set: float | None = None
        self.port = self.sock.getsockname()[1]

    def send(self, data: bytes, target: tuple[str, int] | None = None) -> None:
        self.sock.sendto(data, target or self.server)

    def receive(self) -> list[tuple[bytes, tuple[str, int]]]:
        """The messages that arrived (empty on a timeout); raises OSError once closed."""
        if self.timeout != self._timeout_set:
            self.sock.settimeout(self.timeout)
            self._timeout_set = self.timeout
        try:
            data, source = self.sock.recvfrom(MAX_MESSAGE)
        except (TimeoutError, socket.timeout):
            return []
        if not data:  # an empty datagram, or close_waking_readers() shut the socket down (the agent stops)
            return []
        return [(data, source)]

    def close(self) -> None:
        close_waking_readers(self.sock)


class TcpTransport:
    """One connection to the server; every request and response goes over it (RFC 3261 18.2, 18.3)."""

    name = "TCP"
    reliable = True

    def __init__(self, address: str, server: tuple[str, int], connect_timeout: float = 5.0):
        self.server = server
        self.sock = socket.create_connection(server, timeout=connect_timeout, source_address=(address, 0))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self._buffer = b""

    def send(self, data: bytes, target: tuple[str, int] | None = None) -> None:
        self.sock.sendall(data)

    def receive(self) -> list[tuple[bytes, tuple[str, int]]]:
        try:
            chunk = self.sock.recv(MAX_MESSAGE)
        except (TimeoutError, socket.timeout):
            return []
        if not chunk:
            raise OSError("connection closed by the server")
        self._buffer += chunk
        return [(frame, self.server) for frame in self._frames()]

    def _frames(self) -> list[bytes]:
        frames = []
        while True:
            self._buffer = self._buffer.lstrip(b"\r\n")  # keep-alive CRLFs (RFC 5626)
            head_end = self._buffer.find(b"\r\n\r\n")
            if head_end < 0:
                if len(self._buffer) > MAX_MESSAGE:
                    raise OSError("no end of headers within 64 KiB: the stream is unusable")
                return frames
            match = _LENGTH.search(self._buffer[:head_end])
            if match is None:
                raise OSError("a message over TCP without Content-Length: the stream cannot be framed")
            end = head_end + 4 + int(match.group(1))
            if len(self._buffer) < end:
                return frames
            frames.append(self._buffer[:end])
            self._buffer = self._buffer[end:]

    def close(self) -> None:
        close_waking_readers(self.sock)


def open_transport(kind: str, address: str, server: tuple[str, int]):
    kinds = {"udp": UdpTransport, "tcp": TcpTransport}
    if kind.lower() not in kinds:
        raise ValueError(f"SIP transport {kind!r}: use udp or tcp")
    return kinds[kind.lower()](address, server)
