"""Tags, Via branches and Call-IDs: cryptographically random (RFC 3261 19.3 asks it of tags), read from the OS a
page at a time rather than a system call per identifier.

`token_hex(n)` is `secrets.token_hex(n)` from a page of `os.urandom` bytes cut into 8-byte slots, each slot handed
out once: a load generator makes half a dozen identifiers per call, and the getrandom(2) call each took 1.3 % of
sip_calls' CPU (py-spy, 280 users). No lock: a slot is taken with `next()` on the page's counter, which the
interpreter does at once for any thread; under Locust a lock is gevent's, written in Python, and taking it cost more
than the system call it saved (5.7 % of sip_register's CPU, py-spy, 400 phones). Two threads that find the page used
up may both read a new one: each slot of each page is still handed out once. A forked child starts with an empty
page, so it never repeats its parent's identifiers.
"""

from __future__ import annotations

import itertools
import os

#: Bytes read from the OS at once, and the slot each identifier of up to that many bytes takes from them.
PAGE = 4096
SLOT = 8


class _Page:
    __slots__ = ("data", "slots")

    def __init__(self, data: bytes):
        self.data, self.slots = data, itertools.count()


_page = _Page(b"")


def token_hex(nbytes: int) -> str:
    """`nbytes` random bytes as 2*nbytes hex digits."""
    global _page
    if nbytes > SLOT:
        return os.urandom(nbytes).hex()
    while True:
        page = _page
        at = next(page.slots) * SLOT
        if at < len(page.data):
            return page.data[at:at + nbytes].hex()
        _page = _Page(os.urandom(PAGE))


def _forget() -> None:
    global _page
    _page = _Page(b"")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget)
