"""Socket helpers shared by the protocol clients (SIP, RTP, TURN)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator


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
