"""The nftables rules a host gets, derived from its listeners, and the same shape read back from nft."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .site import Deployment, Host


@dataclass(frozen=True, order=True)
class Rule:
    """Accept `protocol` traffic to `ports` (\"5060\" or \"30000-31499\") from `sources` (empty: anyone)."""

    protocol: str
    ports: str
    sources: tuple[str, ...] = ()
    comment: str = ""
    #: TCP connections one source address may hold open (the firewall resets the rest); None: no cap.
    per_source: int | None = None

    @property
    def set_name(self) -> str:
        """The nftables set that counts each source's connections to these ports."""
        return f"conns_{self.protocol}_{self.ports.replace('-', '_')}"

    @property
    def key(self) -> tuple[str, str, tuple[str, ...]]:
        return (self.protocol, self.ports, self.sources)


def rules_for(deployment: Deployment, host: Host) -> list[Rule]:
    """Exactly the inbound openings for a host; a listener nobody may reach gets no rule."""
    rules = []
    for listener in deployment.listeners(host):
        if listener.sources is not None and not listener.sources:
            continue
        sources = tuple(str(a) for a in listener.sources or ())
        rules.append(Rule(listener.protocol, str(listener.ports), sources, listener.service, listener.per_source))
    return sorted(rules)


def rules_from_nft_json(document: dict, table: str = "rtcstack") -> list[Rule]:
    """Read the accept rules of our input chain back from `nft -j list table inet rtcstack`."""
    rules = []
    for item in document.get("nftables", []):
        rule = item.get("rule")
        if not rule or rule.get("table") != table or rule.get("chain") != "input":
            continue
        protocol = ports = None
        sources: tuple[str, ...] = ()
        accept = False
        for expr in rule.get("expr", []):
            if "accept" in expr:
                accept = True
            match = expr.get("match")
            if not match:
                continue
            left, right = match.get("left", {}), match.get("right")
            payload = left.get("payload", {})
            if payload.get("field") == "dport":
                protocol = payload.get("protocol")
                ports = _ports(right)
            elif payload.get("protocol") == "ip" and payload.get("field") == "saddr":
                values = right.get("set", []) if isinstance(right, dict) else [right]
                sources = tuple(sorted(str(v) for v in values))
        if accept and protocol and ports:
            rules.append(Rule(protocol, ports, sources, rule.get("comment", "")))
    return sorted(rules)


def _ports(right) -> str:
    if isinstance(right, dict) and "range" in right:
        low, high = right["range"]
        return f"{low}-{high}"
    return str(right)
