"""Many UDP datagrams per system call: Linux's recvmmsg(2) and sendmmsg(2), which Python's socket module does not
expose, called through libc with ctypes.

A `DatagramBatch` owns fixed buffers for `count` datagrams (payload slots of `size` bytes, a sockaddr_in each, and
optionally room for one control message each) and the mmsghdr array that points into them, built once. Callers
read and write the slots in place with `struct` (`payloads`, `names`, `controls` and the mmsghdr array `headers`
are bytearrays), so receiving or sending a datagram creates no Python object beyond what the caller unpacks. IPv4
only; `available()` says whether this platform has both calls.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import struct

MSG_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0x40)
_SOCKADDR_IN = 16
#: struct msghdr on 64-bit Linux, then mmsghdr's msg_len: name, namelen, iov, iovlen, control, controllen, flags.
_MSGHDR = struct.Struct("@PI4xPNPNi4xI4x")
_IOVEC = struct.Struct("@PN")
_LENGTH_AT = _MSGHDR.size - 8  # msg_len, after the msghdr
_LENGTH = struct.Struct("@I").unpack_from
#: An mmsghdr's size in 8-byte words and in 4-byte ones (`DatagramBatch.header_words`, `header_ints`), and where
#: msg_controllen is among the first, msg_len among the second.
HEADER_WORDS, HEADER_INTS = _MSGHDR.size // 8, _MSGHDR.size // 4
CONTROLLEN_WORD, LENGTH_INT = 40 // 8, _LENGTH_AT // 4  # (msg_controllen: after name, namelen, iov, iovlen, control)
#: A sockaddr_in's first 8 bytes (family, port, address) as one integer: a dictionary key with no parsing
#: (`NAME_KEY(names, i * 16)[0]`).
NAME_KEY = struct.Struct("@Q").unpack_from
_SOCKADDR = struct.Struct("@H2s4s8x")


def _libc():
    if not hasattr(os, "sched_getaffinity") or _MSGHDR.size != 64:  # not Linux, or not 64-bit
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        receive, send = libc.recvmmsg, libc.sendmmsg
    except (OSError, AttributeError):
        return None
    receive.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    send.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
    receive.restype = send.restype = ctypes.c_int
    return receive, send


_CALLS = _libc()


def available() -> bool:
    return _CALLS is not None


def name_key(host: str, port: int) -> int:
    """The key `DatagramBatch.name_key(i)` gives a datagram from (or to) host:port."""
    return NAME_KEY(sockaddr(host, port))[0]


def sockaddr(host: str, port: int) -> bytes:
    return _SOCKADDR.pack(socket.AF_INET, port.to_bytes(2, "big"), socket.inet_aton(host))


def _pinned(buffer: bytearray) -> ctypes.c_char:
    """A ctypes view of the buffer's first byte: while it lives the bytearray cannot be resized (a resize would
    raise BufferError), so the addresses the kernel is given stay valid."""
    return ctypes.c_char.from_buffer(buffer)


class DatagramBatch:
    """Buffers and headers for up to `count` datagrams of at most `size` bytes each."""

    def __init__(self, count: int, size: int, control: int = 0):
        if _CALLS is None:
            raise OSError("recvmmsg/sendmmsg are not available on this platform")
        self.count, self.size, self.control = count, size, control
        self.payloads = bytearray(count * size)
        self.names = bytearray(count * _SOCKADDR_IN)
        self.controls = bytearray(max(1, count * control))
        self._iovecs = bytearray(count * _IOVEC.size)
        self.headers = bytearray(count * _MSGHDR.size)
        self._pins = [_pinned(b) for b in (self.payloads, self.names, self.controls, self._iovecs, self.headers)]
        payloads, names, controls, iovecs, headers = (ctypes.addressof(pin) for pin in self._pins)
        for i in range(count):
            _IOVEC.pack_into(self._iovecs, i * _IOVEC.size, payloads + i * size, size)
            _MSGHDR.pack_into(self.headers, i * _MSGHDR.size, names + i * _SOCKADDR_IN, _SOCKADDR_IN,
                              iovecs + i * _IOVEC.size, 1, controls + i * control if control else 0, control, 0, 0)
        self._pristine = bytes(self.headers)
        #: The same buffers as arrays of machine words, for callers that read many datagrams in a loop: indexing a
        #: memoryview is several times cheaper than a struct unpack. `header_words[i * HEADER_WORDS +
        #: CONTROLLEN_WORD]`, `header_ints[i * HEADER_INTS + LENGTH_INT]`, `name_words[i * 2]` (= `name_key(i)`),
        #: `control_words` (when each datagram's control room is a whole number of words).
        self.header_words = memoryview(self.headers).cast("Q")
        self.header_ints = memoryview(self.headers).cast("I")
        self.name_words = memoryview(self.names).cast("Q")
        self.control_words = memoryview(self.controls).cast("q") if control % 8 == 0 and control else None
        self.headers_address = headers
        self._dirty = count  # headers the kernel may have written to since they were last reset
        self._receive, self._send = _CALLS

    def length(self, i: int) -> int:
        """Datagram i's length, after `receive`."""
        return _LENGTH(self.headers, i * _MSGHDR.size + _LENGTH_AT)[0]

    def name_key(self, i: int) -> int:
        """Datagram i's source (after `receive`) as the integer `name_key(host, port)` gives."""
        return NAME_KEY(self.names, i * _SOCKADDR_IN)[0]

    def receive(self, fd: int) -> int:
        """Reads up to `count` datagrams without waiting: how many were read (0 when there was none)."""
        if self._dirty:
            self.headers[:self._dirty * _MSGHDR.size] = self._pristine[:self._dirty * _MSGHDR.size]
        got = self._receive(fd, self.headers_address, self.count, MSG_DONTWAIT, None)
        if got < 0:
            self._dirty = 0
            error = ctypes.get_errno()
            if error in (11, 4):  # EAGAIN, EINTR: nothing to read now
                return 0
            raise OSError(error, os.strerror(error))
        self._dirty = got
        return got

    def send(self, fd: int, n: int, first: int = 0) -> int:
        """Sends slots first..first+n-1, each to the sockaddr in its name slot: how many the kernel took (a datagram
        that failed, and those after it, are dropped rather than retried: this is for media, which a retry would
        make late)."""
        sent = 0
        while sent < n:
            got = self._send(fd, self.headers_address + (first + sent) * _MSGHDR.size, n - sent, MSG_DONTWAIT)
            if got <= 0:
                return sent
            sent += got
        return sent

