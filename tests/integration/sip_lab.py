"""Helpers for the signalling tests: provisioning through the CLI, SIP agents, remote commands."""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker

from rtcstack.protocols.sip.agent import UserAgent
from rtcstack.protocols.sip.message import request
from rtcstack.runtime.remote import connect
from rtcstack.site import Site
from tests.conftest import rtcstack


@dataclass
class SipLab:
    inventory: str
    tmp: Path

    def __post_init__(self):
        self.site = Site.load(self.inventory)
        self.deployment = self.site.deployment
        self.registrar = self.deployment.hosts_with("registrar")[0]
        self.media_addresses = {str(h.advertised_address) for h in self.deployment.hosts_with("media")}
        self.domain = self.deployment.sip_domain
        self.sip_port = self.deployment.registrar.sip_port

    def customer(self, channels: int = 5, international: bool = False, max_rate: str | None = None) -> str:
        name = f"t-{secrets.token_hex(4)}"
        # enough for the channels (paid from the balance, P13) and 1000 for calls
        top_up = self.deployment.billing.channel_price * channels + 1000
        args = ["customers", "add", self.inventory, name, "--top-up", str(top_up), "--channels", str(channels),
                "--international" if international else "--no-international"]
        rtcstack(*args, *(["--max-rate", max_rate] if max_rate else []))
        return name

    def accounts(self, customer: str, count: int, international: str = "", max_rate: str = "",
                 password_prefix: str = "") -> list[tuple[str, str]]:
        batch = secrets.token_hex(2)
        made = [(f"{customer}-{batch}{i}", password_prefix + secrets.token_urlsafe(12)) for i in range(count)]
        path = self.tmp / f"{customer}-{secrets.token_hex(2)}.csv"
        path.write_text("customer,username,password,international,max_rate\n" + "".join(
            f"{customer},{user},{password},{international},{max_rate}\n" for user, password in made))
        rtcstack("accounts", "import", self.inventory, str(path))
        return made

    def agent(self, account: tuple[str, str], rtp_seconds: float = 0.0, **options) -> UserAgent:
        return UserAgent(str(self.registrar.private_address), self.sip_port, self.domain, *account,
                         rtp_seconds=rtp_seconds, **options)

    def flood_with_options(self, source: str, until=lambda: False, rounds: int = 5) -> int:
        """Bursts of six times the registrar's flood threshold of OPTIONS from `source`, as fast as they go,
        until `until()` holds or `rounds` bursts went out (a loaded machine drops datagrams: one burst may
        not reach the threshold). Returns the bursts sent."""
        for burst in range(1, rounds + 1):
            self._flood_burst(source)
            time.sleep(0.3)
            if until():
                return burst
        return rounds

    def _flood_burst(self, source: str) -> None:
        flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        flood.bind((source, 0))
        options = request("OPTIONS", f"sip:{self.domain}", [
            ("Via", f"SIP/2.0/UDP {source}:{flood.getsockname()[1]};branch=z9hG4bKflood"), ("From", "<sip:f@x>;tag=1"),
            ("To", "<sip:f@x>"), ("Call-ID", "flood"), ("CSeq", "1 OPTIONS"), ("Max-Forwards", "70")]).encode()
        for _ in range(self.deployment.registrar.flood_requests_per_second * 6):
            flood.sendto(options, (str(self.registrar.private_address), self.sip_port))
        flood.close()

    @contextmanager
    def second_source_address(self):
        """A second address of this machine on the lab network (the first one is flood-exempt)."""
        network = docker.from_env().networks.get(self.deployment.lab.network)
        bridge = network.attrs["Options"].get("com.docker.network.bridge.name") or f"br-{network.id[:12]}"
        address = str(self.deployment.lab.subnet.network_address + 250)
        subprocess.run(["ip", "addr", "add", f"{address}/32", "dev", bridge], check=True)
        try:
            yield address
        finally:
            subprocess.run(["ip", "addr", "del", f"{address}/32", "dev", bridge], check=False)

    @contextmanager
    def kamailio_with(self, **modparams: int):
        """The lab's Kamailio with some numeric module parameters changed (dialog__default_timeout=4: the dialog
        module's default_timeout; a deployment's settings keep them in sane ranges), then its own config back: the
        installed file is restored byte for byte, so a deploy finds nothing to change."""
        cfg = "/etc/kamailio/kamailio.cfg"
        edits, checks = [], []
        for key, value in modparams.items():
            module, name = key.split("__")
            pattern = f"modparam(\"{module}\", \"{name}\", "
            edits.append(f"-e 's/^{pattern}[0-9]*)/{pattern}{value})/'")
            checks.append(f"grep -q 'modparam(\"{module}\", \"{name}\", {value})' {cfg}")
        self.on_registrar(f"cp -p {cfg} {cfg}.before-test")
        try:
            self.on_registrar(f"sed -i {' '.join(edits)} {cfg} && {' && '.join(checks)} && systemctl restart kamailio")
            yield
        finally:  # (reset-failed: a change Kamailio refused has used up systemd's start limit)
            self.on_registrar(f"mv {cfg}.before-test {cfg} && systemctl reset-failed kamailio; systemctl restart "
                              f"kamailio && systemctl is-active kamailio")

    def on_registrar(self, command: str) -> str:
        return self.on_host(self.registrar.name, command)

    def on_host(self, name: str, command: str) -> str:
        return connect(self.site, [name])[name].run(command)

    def sql(self, query: str) -> list[list[str]]:
        from rtcstack.runtime.database import Database

        return Database.connect(self.site).run(query)
