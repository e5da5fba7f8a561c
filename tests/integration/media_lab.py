"""The browser media plane's lab for the turn, sfu and edge integration tests: the hosts, a TURN peer,
turnutils_uclient, and helpers that read certificates and ports from this machine."""

from __future__ import annotations

import secrets
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from rtcstack.protocols.janus import VIDEOROOM, JanusHttp
from rtcstack.runtime.remote import connect
from rtcstack.site import Deployment, Host, Site
from rtcstack.site.pki import Pki

BROWSER = Path(__file__).parent / "browser" / "webrtc_session.py"


@dataclass
class MediaLab:
    inventory: str
    deployment: Deployment
    site: Site

    def __post_init__(self):
        d = self.deployment
        self.turn: Host = d.hosts_with("turn")[0]
        self.sfu: Host = d.hosts_with("sfu")[0]
        self.edge: Host = d.hosts_with("edge")[0]
        self.ca = str(Pki.for_inventory(self.inventory).directory / "ca.crt")
        self.turn_secret = d.secret("turn_shared_secret")

    def run_on(self, host: Host, command: str) -> str:
        return connect(self.site, [host.name])[host.name].run(command)

    def janus(self, **auth) -> JanusHttp:
        return JanusHttp(f"https://{self.edge.advertised_address}{self.deployment.edge.janus_path}", cafile=self.ca,
                         **auth)

    def room(self) -> int:
        """A fresh video room, created the way rtcstack's services create one: API secret and room key."""
        admin = self.janus(api_secret=self.deployment.secret("janus_api_secret"))
        admin.create()
        handle = admin.attach(VIDEOROOM)
        room = secrets.randbelow(10**9) + 10**6
        reply = admin.message(handle, {"request": "create", "room": room, "publishers": 4,
                                       "admin_key": self.deployment.secret("janus_room_key")})
        assert reply["plugindata"]["data"].get("videoroom") == "created", reply
        admin.destroy()
        return room


    def webrtc_session(self, in_network: list[str] | None = None, seconds: int = 6) -> dict:
        """Publisher and subscriber in headless Chromium (from `in_network`, an argv prefix such as a NAT
        client's nsenter, or this machine), ICE restricted to relay candidates on the TURN host over UDP."""
        import json
        import sys

        from rtcstack.protocols.janus import signed_token
        from rtcstack.roles.turn import credentials_for

        assert Path("/usr/bin/chromium").exists(), "Debian's chromium is missing: run scripts/bootstrap"
        d = self.deployment
        udp = f"turn:{self.turn.advertised_address}:{d.turn.listening_port}?transport=udp"
        ice = [[{**credentials_for(d, f"{who}-{secrets.token_hex(3)}").ice_server(), "urls": [udp]}]
               for who in ("publisher", "subscriber")]
        params = {
            "edge_name": self.edge.name, "edge_address": str(self.edge.advertised_address),
            "janus_path": d.edge.janus_path, "room": self.room(), "ice_servers": ice, "seconds": seconds,
            "tokens": [signed_token(d.secret("janus_token_secret"), lifetime_seconds=300) for _ in range(2)],
        }
        result = subprocess.run([*(in_network or []), sys.executable, str(BROWSER)], input=json.dumps(params),
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-4000:]
        return json.loads(result.stdout)


def user() -> str:
    """A fresh TURN user name: coturn counts allocations per user (user_quota), and turnutils_uclient leaves
    its allocations to expire."""
    return f"uclient-{secrets.token_hex(4)}"


def uclient_command(media: MediaLab, *args: str, messages: int = 50, clients: int = 2) -> list[str]:
    """turnutils_uclient from this machine: `clients` allocations (no RTCP ones), `messages` each."""
    return ["turnutils_uclient", *args, "-c", "-n", str(messages), "-m", str(clients), "-l", "120",
            str(media.turn.advertised_address), "-p", str(media.deployment.turn.listening_port)]


def uclient(media: MediaLab, *args: str, messages: int = 50, clients: int = 2, timeout: float = 60) -> str:
    command = uclient_command(media, *args, messages=messages, clients=clients)
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    return result.stdout + result.stderr


def _denied_destinations(media: MediaLab) -> list[str]:
    """Loopback, and a lab address no sfu or media host has (the database host in the six-host lab)."""
    allowed = {str(n.network_address) for n in media.deployment.turn_allowed_peers}
    subnet = media.deployment.lab.subnet
    others = [str(h.private_address) for h in media.deployment.hosts.values() if str(h.private_address) not in allowed]
    return ["127.0.0.1", others[0] if others else str(subnet[250])]


def _presented_certificate(address: str, port: int, server_name: str, cafile: str) -> x509.Certificate:
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection((address, port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def _tcp_open(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=2).close()
        return True
    except OSError:
        return False


def _candidates(sdp: str) -> list[tuple[str, str]]:
    """(address, type) of every a=candidate line."""
    out = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            fields = line.split()
            out.append((fields[4], fields[fields.index("typ") + 1]))
    return out
