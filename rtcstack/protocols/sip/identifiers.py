"""Tags, Via branches and Call-IDs: cryptographically random (RFC 3261 19.3 asks it of tags), read from the OS a
page at a time rather than a system call per identifier.

`token_hex(n)` is `secrets.token_hex(n)` from a buffer of `os.urandom` bytes, each byte handed out once: a load
generator makes half a dozen identifiers per call, and the getrandom(2) call each took 1.3 % of sip_calls' CPU
(py-spy, 280 users). A forked child starts with an empty buffer, so it never repeats its parent's identifiers.
"""

from __future__ import annotations

import os
import threading

#: Bytes read from the OS at once.
PAGE = 4096

_lock = threading.Lock()
_buffer = b""
_used = 0


def token_hex(nbytes: int) -> str:
    """`nbytes` random bytes as 2*nbytes hex digits."""
    global _buffer, _used
    with _lock:
        if _used + nbytes > len(_buffer):
            _buffer, _used = os.urandom(max(PAGE, nbytes)), 0
        start = _used
        _used = start + nbytes
        return _buffer[start:start + nbytes].hex()


def _forget() -> None:
    global _buffer, _used, _lock
    _lock = threading.Lock()
    _buffer, _used = b"", 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget)
