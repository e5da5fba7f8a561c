"""Clients behind the lab's NAT routers: rtcstack's SIP agent run in a process inside a client network.

A spawned process enters the client container's network namespace before it opens a socket, so every socket
the agent makes (SIP over UDP or TCP, RTP) lives behind the NAT router, with the client's private address.
The test process drives it over a pipe and gets plain figures back.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os

from rtcstack.lab_nat import NatClient

CLONE_NEWNET = 0x40000000


def _enter_network_namespace(pid: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into the network of process {pid}")
    finally:
        os.close(fd)


def _rtp(stream) -> dict | None:
    if stream is None:
        return None
    return {"sent": stream.sent, "received": stream.received, "sources": sorted(stream.sources)}


def _serve(connection, pid: int, options: dict) -> None:
    """The client process: one UserAgent behind the NAT, commands from the pipe."""
    from rtcstack.protocols.sip.agent import UserAgent, sdp_media

    os.set_blocking(connection.fileno(), True)  # a gevent-patched parent made the socket pair non-blocking
    _enter_network_namespace(pid)
    agent = UserAgent(**options)
    calls, seen = [], []
    receive = agent.transport.receive

    def recording_receive():
        arrived = receive()
        seen.extend(data.decode(errors="replace") for data, _ in arrived)
        return arrived

    agent.transport.receive = recording_receive  # every SIP message the agent gets, as the phone sees it

    def register(expires: int = 300):
        reply = agent.register(expires=expires)
        return reply.status if reply else None

    def call(target: str, timeout: float = 10.0):
        placed = agent.call(target, timeout=timeout)
        calls.append(placed)
        return {"answered": placed.answered, "status": placed.status, "reason": placed.reason,
                "answer_media": sdp_media(placed.remote_sdp) if placed.remote_sdp else None}

    def hangup():
        reply = calls[-1].hangup()
        return reply.status if reply else None

    def figures():
        return {
            "outgoing": [_rtp(c.rtp) for c in calls],
            "incoming": [{"answered": c.answered, "via": c.invite.get("via"),
                          "offer_media": sdp_media(c.invite.body), "rtp": _rtp(c.rtp)} for c in agent.incoming],
            "options_received": agent.options_received,
        }

    commands = {"register": register, "call": call, "hangup": hangup, "figures": figures,
                "seen": lambda: list(seen)}
    connection.send({"address": agent.address, "port": agent.local_port})
    while True:
        command, arguments = connection.recv()
        if command == "close":
            agent.close()
            connection.send(None)
            return
        try:
            connection.send(("ok", commands[command](**arguments)))
        except Exception as exc:  # the test process shows it
            connection.send(("error", f"{type(exc).__name__}: {exc}"))


class NatAgent:
    """rtcstack's SIP agent for one account, running inside client network `client`."""

    def __init__(self, client: NatClient, registrar: str, port: int, domain: str, account: tuple[str, str],
                 **options):
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        for end in (self._pipe, child):
            os.set_blocking(end.fileno(), True)  # (Locust's gevent patches socket: the pair starts non-blocking)
        agent_options = {"registrar": registrar, "port": port, "domain": domain, "username": account[0],
                         "password": account[1], **options}
        self._process = context.Process(target=_serve, args=(child, client.pid, agent_options), daemon=True)
        self._process.start()
        if not self._pipe.poll(30):
            raise RuntimeError("the agent behind the NAT did not start")
        started = self._pipe.recv()
        self.address, self.port, self.username = started["address"], started["port"], account[0]

    def _do(self, command: str, timeout: float = 60, **arguments):
        self._pipe.send((command, arguments))
        if not self._pipe.poll(timeout):
            raise TimeoutError(f"{command} behind the NAT took over {timeout} s")
        outcome, value = self._pipe.recv()
        if outcome == "error":
            raise AssertionError(f"{command} behind the NAT failed: {value}")
        return value

    def register(self, expires: int = 300) -> int | None:
        return self._do("register", expires=expires)

    def call(self, target: str) -> dict:
        return self._do("call", target=target)

    def hangup(self) -> int | None:
        return self._do("hangup")

    def figures(self) -> dict:
        return self._do("figures")

    def seen(self) -> list[str]:
        """Every SIP message the agent received, whole (headers and SDP)."""
        return self._do("seen")

    def close(self) -> None:
        if self._process.is_alive():
            try:
                self._pipe.send(("close", {}))
                self._pipe.poll(5)
            except (BrokenPipeError, OSError):
                pass
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()

    def __enter__(self) -> NatAgent:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
