"""RTP and RTCP between a video phone's leg (through rtpengine) and Janus, packet by packet: one thread per
call moves every stream; no decoding, no transcoding. The payload type is rewritten where the two sides
numbered the same format differently (the phone's H.264 and the mountpoint's, a browser's and the phone's).

Each stream is a pair of sockets, RTP on an even port and RTCP on the next one (the phone's SDP has no
rtcp-mux), so keyframe requests travel both ways: the phone's PLI/FIR to the VideoRoom forwarder (which
asks the browser for a keyframe), Janus' PLI for the mountpoint to the phone."""

from __future__ import annotations

import random
import selectors
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

#: A destination: an address, or where to read it when the packet leaves (a peer's latched address).
Destination = tuple[str, int] | Callable[[], tuple[str, int] | None] | None


@dataclass
class Route:
    """Packets arriving on socket `source` leave from socket `via` (symmetric: each side sends to and receives
    from one port) to `destination`, with payload type `payload_type` (None: as they came, as RTCP must)."""

    source: str
    via: str
    destination: Destination
    payload_type: int | None = None
    packets: int = 0
    octets: int = 0

    def address(self) -> tuple[str, int] | None:
        return self.destination() if callable(self.destination) else self.destination


class PortExhausted(Exception):
    pass


def bind_pair(address: str, first: int, last: int, tries: int = 64) -> tuple[socket.socket, socket.socket]:
    """Two UDP sockets on an even port of [first, last] and the odd port above it (RTP and its RTCP)."""
    evens = range(first + first % 2, last, 2)
    for port in random.sample(evens, min(tries, len(evens))):
        rtp, rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            rtp.bind((address, port))
            rtcp.bind((address, port + 1))
            return rtp, rtcp
        except OSError:
            rtp.close()
            rtcp.close()
    raise PortExhausted(f"no free UDP port pair in {first}-{last} on {address}")


class Relay:
    """Named socket pairs on `address` within the port range: `NAME` (RTP) and `NAME_rtcp`, and the routes
    between the sockets."""

    def __init__(self, address: str, ports: tuple[int, int], names: tuple[str, ...]):
        self.address = address
        self.sockets: dict[str, socket.socket] = {}
        try:
            for name in names:
                self.sockets[name], self.sockets[f"{name}_rtcp"] = bind_pair(address, *ports)
        except PortExhausted:
            self.close()
            raise
        self.routes: dict[str, list[Route]] = {}
        #: where packets on each socket last came from
        self.sources: dict[str, tuple[str, int]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def port(self, name: str) -> int:
        return self.sockets[name].getsockname()[1]

    def route(self, source: str, via: str, destination: Destination, payload_type: int | None = None) -> Route:
        """Add a route from `source` (packets may fan out to several)."""
        route = Route(source, via, destination, payload_type)
        self.routes.setdefault(source, []).append(route)
        return route

    def latched(self, name: str) -> Callable[[], tuple[str, int] | None]:
        """The address packets on socket `name` last came from (a peer whose port only its packets tell)."""
        return lambda: self.sources.get(name)

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
            if len(data) < 8 or data[0] >> 6 != 2:  # RTP and RTCP are version 2
                continue
            for route in self.routes.get(name, ()):
                destination = route.address()
                if destination is None:
                    continue
                packet = data
                if route.payload_type is not None and (data[1] & 0x7F) != route.payload_type:
                    packet = data[:1] + bytes([(data[1] & 0x80) | route.payload_type]) + data[2:]
                try:
                    self.sockets[route.via].sendto(packet, destination)
                except OSError:
                    continue
                route.packets += 1
                route.octets += len(packet)

    def counters(self) -> dict[str, int]:
        return {f"{r.source}>{r.via}": r.packets for routes in self.routes.values() for r in routes}

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        for sock in self.sockets.values():
            sock.close()
