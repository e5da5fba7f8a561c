"""Socket helpers shared by the protocol clients (SIP, RTP, TURN)."""

from __future__ import annotations

import socket


def close_waking_readers(sock: socket.socket) -> None:
    """Shut the socket down first, so a thread (greenlet) blocked reading it returns, then close it."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
