"""RTP between a video phone's leg (through rtpengine) and Janus, packet by packet: one thread per call
moves every stream; no decoding, no transcoding. The payload type is rewritten where the two sides
numbered the same format differently (the phone's H.264 and the mountpoint's, a browser's and the phone's)."""

from __future__ import annotations

import random
import selectors
import socket
import threading
from dataclasses import dataclass


@dataclass
class Route:
    """Packets arriving on socket `source` leave from socket `via` (symmetric RTP: each side sends to and
    receives from one port) to `destination`, with payload type `payload_type` (None: as they came)."""

    source: str
    via: str
    destination: tuple[str, int] | None
    payload_type: int | None = None
    packets: int = 0
    octets: int = 0


class PortExhausted(Exception):
    pass


def bind_in(address: str, first: int, last: int, tries: int = 64) -> socket.socket:
    """A UDP socket on an even port of [first, last] (RTP's convention; RTCP is not relayed)."""
    evens = range(first + first % 2, last + 1, 2)
    for port in random.sample(evens, min(tries, len(evens))):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((address, port))
            return sock
        except OSError:
            sock.close()
    raise PortExhausted(f"no free UDP port in {first}-{last} on {address}")


class Relay:
    """Named UDP sockets on `address` within the port range, and the routes between them."""

    def __init__(self, address: str, ports: tuple[int, int], names: tuple[str, ...]):
        self.address = address
        self.sockets: dict[str, socket.socket] = {}
        try:
            for name in names:
                self.sockets[name] = bind_in(address, *ports)
        except PortExhausted:
            self.close()
            raise
        self.routes: dict[str, Route] = {}
        #: where packets on each socket last came from
        self.sources: dict[str, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def port(self, name: str) -> int:
        return self.sockets[name].getsockname()[1]

    def route(self, source: str, via: str, destination: tuple[str, int] | None,
              payload_type: int | None = None) -> Route:
        route = self.routes[source] = Route(source, via, destination, payload_type)
        return route

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"relay-{self.port(next(iter(self.sockets)))}")
        self._thread.start()

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        for name, sock in self.sockets.items():
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ, name)
        try:
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.5):
                    self._forward(key.data, key.fileobj)
        finally:
            selector.close()

    def _forward(self, name: str, sock: socket.socket) -> None:
        for _ in range(64):  # drain what has arrived, a bounded batch per wake-up
            try:
                data, source = sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self.sources[name] = source
            route = self.routes.get(name)
            if route is None or route.destination is None or len(data) < 12 or data[0] >> 6 != 2:
                continue
            if route.payload_type is not None and (data[1] & 0x7F) != route.payload_type:
                data = data[:1] + bytes([(data[1] & 0x80) | route.payload_type]) + data[2:]
            try:
                self.sockets[route.via].sendto(data, route.destination)
            except OSError:
                continue
            route.packets += 1
            route.octets += len(data)

    def counters(self) -> dict[str, int]:
        return {name: route.packets for name, route in self.routes.items()}

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        for sock in self.sockets.values():
            sock.close()
