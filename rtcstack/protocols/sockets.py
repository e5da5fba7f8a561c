"""Socket helpers shared by the protocol clients (SIP, RTP, TURN)."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

#: Linux's receive timestamps (not exported by Python's socket module): the option, and its control message.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
ANCILLARY = socket.CMSG_SPACE(16)
_TIMESPEC = struct.Struct("qq")


def stamp_arrivals(sock: socket.socket) -> bool:
    """Ask the kernel to timestamp every datagram `sock` receives (read them with `recvmsg(size, ANCILLARY)` and
    `arrival()`); False where it cannot (not Linux): an arrival is then when it is read."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:
        return False
    return True


def arrival(ancillary: list[tuple[int, int, bytes]]) -> float:
    """A datagram's arrival (Unix seconds) from recvmsg's control messages: the kernel's timestamp, else now."""
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(payload)
            return seconds + nanoseconds / 1e9
    return time.time()


def receive_stamped(sock: socket.socket, stamped: bool, size: int = 65535) -> tuple[bytes, tuple, float]:
    """The next datagram, where from, and when it arrived (time.monotonic() seconds): the kernel's timestamp when
    `stamped` (`stamp_arrivals` succeeded), else when it was read."""
    if not stamped:
        data, source = sock.recvfrom(size)
        return data, source, time.monotonic()
    data, ancillary, _, source = sock.recvmsg(size, ANCILLARY)
    return data, source, arrival(ancillary) - (time.time() - time.monotonic())


def close_waking_readers(sock: socket.socket) -> None:
    """Shut the socket down first, so a thread (greenlet) blocked reading it returns, then close it."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def datagrams(sock: socket.socket, closed: threading.Event, size: int = 65535) -> Iterator[tuple[bytes, tuple]]:
    """The datagrams a socket with a timeout receives, with their sources, until `closed` is set or the socket
    is closed (a reader's loop: timeouts only give it the chance to notice `closed`)."""
    while not closed.is_set():
        try:
            yield sock.recvfrom(size)
        except (TimeoutError, socket.timeout):
            continue
        except OSError:
            return
