"""Helpers for the links tests: provisioning through the CLI (as an operator), the links service's HTTP API
and pages through the edge (as the app and a browser do), and the invite pages in Chromium."""

from __future__ import annotations

import json
import re
import secrets
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rtcstack.roles.links import public_url
from rtcstack.site import Site
from tests.conftest import rtcstack

BROWSER = Path(__file__).parent / "browser" / "invite_pages.py"
CONFERENCE_BROWSER = Path(__file__).parent / "browser" / "conference_pages.py"
LINK = re.compile(r"https://\S+/i/([A-Za-z0-9_-]{32})")


@dataclass
class Answer:
    status: int
    body: bytes
    headers: object  #: http.client.HTTPMessage: case-insensitive get()

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclass
class LinksLab:
    inventory: str

    def __post_init__(self):
        self.site = Site.load(self.inventory)
        self.deployment = d = self.site.deployment
        self.edge = d.hosts_with("edge")[0]
        self.registrar = d.hosts_with("registrar")[0]
        self.public_url = public_url(d)
        self.edge_name = self.public_url.split("://", 1)[1].split("/")[0]
        self.admin_token = d.secret("links_admin_token")

    # --- the operator's CLI --------------------------------------------------------------------------

    def family(self, contacts: int = 2, **contact_options) -> tuple[str, str, list[str]]:
        """A customer with a video phone and `contacts` video contacts (e-mail and mobile each): the video
        phone's name, its SIP password, and the contacts' names."""
        customer = f"fam-{secrets.token_hex(3)}"
        rtcstack("customers", "add", self.inventory, customer, "--top-up", "1000", "--channels", "10")
        phone = f"vp-{secrets.token_hex(3)}"
        out = rtcstack("video-phones", "add", self.inventory, phone, "--customer", customer,
                       "--display-name", f"Anna {phone}").stdout
        password = out.split("HA1 is stored): ")[1].split()[0]
        names = []
        for i in range(contacts):
            name = f"Jane {secrets.token_hex(2)} {i}"
            rtcstack("contacts", "add", self.inventory, "--video-phone", phone, "--name", name,
                     "--email", f"jane.{secrets.token_hex(3)}@example.org", "--mobile", f"+48600{secrets.randbelow(10**6):06d}",
                     *[x for key, value in contact_options.items() for x in (f"--{key}", value)])
            names.append(name)
        return phone, password, names

    def issue(self, phone: str, contact: str, via: str = "none") -> str:
        """A new invite's token (earlier links of the pair revoked)."""
        out = rtcstack("invites", "issue", self.inventory, "--video-phone", phone, "--contact", contact,
                       "--via", via).stdout
        return LINK.search(out).group(1)

    def invites(self, phone: str) -> list[dict]:
        out = rtcstack("invites", "list", self.inventory, "--video-phone", phone, "--json").stdout
        return [json.loads(line) for line in out.splitlines()]

    # --- HTTP through the edge ---------------------------------------------------------------------------

    def http(self, method: str, path: str, body: dict | None = None, headers: dict | None = None,
             admin: bool = False) -> Answer:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # TLS itself: test_edge checks it
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"Host": self.edge_name, **({"Content-Type": "application/json"} if data else {}),
                       **({"Authorization": f"Bearer {self.admin_token}"} if admin else {}), **(headers or {})}
        request = urllib.request.Request(f"https://{self.edge.advertised_address}{path}", data=data,
                                         headers=all_headers, method=method)
        try:
            with urllib.request.urlopen(request, context=context, timeout=20) as answer:
                return Answer(answer.status, answer.read(), answer.headers)
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.read(), exc.headers)

    def redeem(self, token: str, **fields) -> Answer:
        return self.http("POST", "/api/v1/redeem", {"token": token, **fields})

    def page(self, token: str, language: str = "en", user_agent: str = "Mozilla/5.0 (X11; Linux x86_64)") -> Answer:
        return self.http("GET", f"/i/{token}", headers={"Accept-Language": language, "User-Agent": user_agent})

    # --- Chromium ------------------------------------------------------------------------------------

    def browse(self, visits: list[dict], out: Path) -> list[dict]:
        """Open invite pages in Chromium with device emulation: each visit is {token, device, language}; the
        result per visit has status, heading, device, the open-app href, and a screenshot of the QR code
        (and of the page) under `out`. Runs in its own process (the tests' gevent patches and Playwright's
        loop do not mix)."""
        params = {"origin": self.public_url, "edge_name": self.edge_name,
                  "edge_address": str(self.edge.advertised_address), "out": str(out), "visits": visits}
        result = subprocess.run([sys.executable, str(BROWSER)], input=json.dumps(params), capture_output=True,
                                text=True, timeout=180)
        assert result.returncode == 0, result.stderr[-4000:]
        return json.loads(result.stdout)

    def conference_browser(self, actions: list[dict], timeout: float = 300) -> list:
        """Run conference_pages.py's actions in one Chromium (fake camera and microphone); one result per
        action. The edge's and the TURN hosts' names resolve to their lab addresses."""
        d = self.deployment
        hosts = {self.edge_name: str(self.edge.advertised_address),
                 **{d.dns_name(h): str(h.advertised_address) for h in d.hosts_with("turn")}}
        params = {"origin": self.public_url, "hosts": hosts, "actions": actions}
        result = subprocess.run([sys.executable, str(CONFERENCE_BROWSER)], input=json.dumps(params),
                                capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, result.stderr[-6000:]
        self.browser_log = result.stderr
        return json.loads(result.stdout)


def zbar(image: Path) -> str:
    """What Debian's zbarimg reads from a picture of a QR code."""
    result = subprocess.run(["zbarimg", "--quiet", "--raw", str(image)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"zbarimg found no code in {image}: {result.stderr}"
    return result.stdout.strip()
