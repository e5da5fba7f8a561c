"""Ports and port ranges a service listens on, and who may reach them."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address


@dataclass(frozen=True, order=True)
class PortRange:
    start: int
    end: int

    @classmethod
    def sized(cls, start: int, size: int) -> PortRange:
        return cls(start, start + size - 1)

    @property
    def size(self) -> int:
        return self.end - self.start + 1

    def overlaps(self, other: PortRange) -> bool:
        return self.start <= other.end and other.start <= self.end

    def __str__(self) -> str:
        return str(self.start) if self.start == self.end else f"{self.start}-{self.end}"


@dataclass(frozen=True)
class Listener:
    """One port or range a service on a host listens on.

    ``key`` is the settings key that places it, for error messages; ``sources`` is None when
    anybody may connect, else the addresses allowed through the firewall; ``per_source`` caps the TCP
    connections one address may hold (the firewall resets the rest).
    """

    service: str
    protocol: str  # "tcp" or "udp"
    ports: PortRange
    key: str
    sources: tuple[IPv4Address, ...] | None = None
    #: TCP only: the most connections one source address may hold open to it (None: no cap).
    per_source: int | None = None

    def describe(self) -> str:
        return f"{self.service} port{'s' if self.ports.size > 1 else ''} {self.ports}/{self.protocol}"
