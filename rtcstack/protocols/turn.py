"""A TURN client over UDP (RFC 8656) on aioice's STUN codec: Allocate with long-term credentials (the
REST-API ones from `rtcstack.turn`), Refresh, CreatePermission, ChannelBind, Send/Data indications and
ChannelData.

Blocking sockets and one receive thread per client, so gevent schedules it under Locust. Requests are
retransmitted as RFC 8489 6.2.1 says: RTO 500 ms doubling, 7 sends, then Rm*RTO more.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import threading
import time
from queue import Empty, Queue

from aioice import stun

from .sockets import close_waking_readers, datagrams

UDP_TRANSPORT = 17 << 24  # REQUESTED-TRANSPORT: protocol 17 in the first byte
FIRST_CHANNEL, LAST_CHANNEL = 0x4000, 0x4FFF


class TurnError(Exception):
    """A TURN request failed: `code` is the STUN error code (401, 403, 437, 486...) or 0 for a timeout."""

    def __init__(self, method: str, code: int, reason: str):
        super().__init__(f"TURN {method}: {code} {reason}")
        self.method, self.code, self.reason = method, code, reason


class TurnClient:
    def __init__(self, server: tuple[str, int], username: str, password: str, local_address: str = "0.0.0.0",
                 rto: float = 0.5, attempts: int = 7):
        self.server, self.username, self.password = server, username, password
        self.rto, self.attempts = rto, attempts
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((local_address, 0))
        self.sock.settimeout(0.5)
        self.realm: str | None = None
        self.nonce: bytes | None = None
        self.key: bytes | None = None
        self.relayed: tuple[str, int] | None = None
        self.mapped: tuple[str, int] | None = None
        self.lifetime = 0
        self.data: Queue = Queue()  # (peer, payload, arrival time) from Data indications and ChannelData
        self.channels: dict[tuple[str, int], int] = {}
        self._peers_by_channel: dict[int, tuple[str, int]] = {}
        self._waiting: dict[bytes, Queue] = {}
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True, name="turn-rx")
        self._thread.start()

    # --- transport --------------------------------------------------------------------------------

    def _receive(self) -> None:
        for packet, _ in datagrams(self.sock, self._closed):
            arrival = time.monotonic()
            if len(packet) >= 4 and FIRST_CHANNEL <= struct.unpack_from("!H", packet)[0] <= 0x7FFF:
                number, length = struct.unpack_from("!HH", packet)
                peer = self._peers_by_channel.get(number)
                if peer is not None and len(packet) >= 4 + length:
                    self.data.put((peer, packet[4:4 + length], arrival))
                continue
            try:
                message = stun.parse_message(packet)
            except ValueError:
                continue  # not STUN, or damaged: a client never dies of a bad packet
            if message.message_class == stun.Class.INDICATION and message.message_method == stun.Method.DATA:
                peer = message.attributes.get("XOR-PEER-ADDRESS")
                if peer and "DATA" in message.attributes:
                    self.data.put((tuple(peer), message.attributes["DATA"], arrival))
                continue
            queue = self._waiting.get(message.transaction_id)
            if queue is not None:
                queue.put(message)

    def _transact(self, method: stun.Method, attributes: dict, authenticate: bool = True) -> stun.Message:
        """One request with retransmissions; a 401/438 challenge is answered once with fresh credentials."""
        for attempt in range(2):
            request = stun.Message(method, stun.Class.REQUEST, attributes=dict(attributes))
            if authenticate and self.key is not None:
                request.attributes.update({"USERNAME": self.username, "REALM": self.realm, "NONCE": self.nonce})
                request.add_message_integrity(self.key)
            reply = self._send_and_wait(request)
            if reply.message_class == stun.Class.RESPONSE:
                return reply
            code, reason = reply.attributes.get("ERROR-CODE", (0, "no ERROR-CODE"))
            if attempt == 0 and code in (401, 438) and "NONCE" in reply.attributes:
                self.realm = reply.attributes.get("REALM", self.realm)
                self.nonce = reply.attributes["NONCE"]
                self.key = hashlib.md5(f"{self.username}:{self.realm}:{self.password}".encode()).digest()
                continue
            raise TurnError(method.name, code, reason)
        raise AssertionError("unreachable")

    def _send_and_wait(self, request: stun.Message) -> stun.Message:
        queue: Queue = Queue()
        self._waiting[request.transaction_id] = queue
        data = bytes(request)
        try:
            wait = self.rto
            for attempt in range(self.attempts):
                self.sock.sendto(data, self.server)
                if attempt == self.attempts - 1:
                    wait = self.rto * 16
                try:
                    return queue.get(timeout=wait)
                except Empty:
                    wait *= 2
            raise TurnError(request.message_method.name, 0, "no answer (timeout)")
        finally:
            self._waiting.pop(request.transaction_id, None)

    # --- TURN -----------------------------------------------------------------------------------

    def allocate(self, lifetime: int = 600) -> tuple[str, int]:
        reply = self._transact(stun.Method.ALLOCATE, {"REQUESTED-TRANSPORT": UDP_TRANSPORT, "LIFETIME": lifetime})
        self.relayed = tuple(reply.attributes["XOR-RELAYED-ADDRESS"])
        self.mapped = tuple(reply.attributes.get("XOR-MAPPED-ADDRESS", ("", 0)))
        self.lifetime = reply.attributes.get("LIFETIME", lifetime)
        return self.relayed

    def refresh(self, lifetime: int = 600) -> int:
        """Extend the allocation; 0 deletes it."""
        reply = self._transact(stun.Method.REFRESH, {"LIFETIME": lifetime})
        self.lifetime = reply.attributes.get("LIFETIME", lifetime)
        if lifetime == 0:
            self.relayed = None
        return self.lifetime

    def create_permission(self, peer: tuple[str, int]) -> None:
        self._transact(stun.Method.CREATE_PERMISSION, {"XOR-PEER-ADDRESS": peer})

    def channel_bind(self, peer: tuple[str, int]) -> int:
        number = self.channels.get(peer) or FIRST_CHANNEL + len(self.channels)
        if number > LAST_CHANNEL:
            raise TurnError("CHANNEL_BIND", 0, "every channel number is in use")
        self._transact(stun.Method.CHANNEL_BIND, {"CHANNEL-NUMBER": number, "XOR-PEER-ADDRESS": peer})
        self.channels[peer], self._peers_by_channel[number] = number, peer
        return number

    def send_indication(self, peer: tuple[str, int], payload: bytes) -> None:
        message = stun.Message(stun.Method.SEND, stun.Class.INDICATION,
                               attributes={"XOR-PEER-ADDRESS": peer, "DATA": payload})
        self.sock.sendto(bytes(message), self.server)

    def send_channel(self, peer: tuple[str, int], payload: bytes) -> None:
        """ChannelData to a bound peer (padded to 4 bytes, as over TCP; harmless over UDP)."""
        header = struct.pack("!HH", self.channels[peer], len(payload))
        self.sock.sendto(header + payload + b"\0" * (-len(payload) % 4), self.server)

    def close(self, release: bool = True) -> None:
        if release and self.relayed is not None:
            try:
                self.refresh(0)
            except TurnError:
                pass
        self._closed.set()
        close_waking_readers(self.sock)
        self._thread.join(timeout=1)

    def __enter__(self) -> TurnClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
