"""The scale lab (inventories/scale.py) for the scale-out tests: two registrars, two media hosts, a
PostgreSQL primary and standby, deployed over SSH."""

from __future__ import annotations

from rtcstack.protocols.sip.agent import UserAgent
from tests.integration.sip_lab import SipLab

SCALE_INVENTORY = "inventories/scale.py"


class ScaleLab(SipLab):
    """SipLab with a choice of registrar for each phone."""

    def __post_init__(self):
        super().__post_init__()
        self.registrars = self.deployment.hosts_with("registrar")
        self.databases = self.deployment.hosts_with("database")

    def agent_on(self, index: int, account: tuple[str, str], rtp_seconds: float = 0.0, **options) -> UserAgent:
        """A phone registering through the index-th registrar (as DNS SRV would hand it one)."""
        return UserAgent(str(self.registrars[index].private_address), self.sip_port, self.domain, *account,
                         rtp_seconds=rtp_seconds, **options)

    def contacts_on(self, index: int, username: str) -> int:
        """How many contacts of `username` the index-th registrar holds in memory."""
        return self.on_host(self.registrars[index].name,
                            f"kamcmd ul.lookup location {username} 2>&1 || true").count(f"sip:{username}@")
