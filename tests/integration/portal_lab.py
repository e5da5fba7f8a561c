"""Helpers for the portal tests: customers, accounts and portal users made through the CLI (as an operator),
the portal's pages over HTTPS through the edge (as a script would), and Chromium driven step by step
(browser/portal_pages.py, its own process)."""

from __future__ import annotations

import http.cookiejar
import json
import re
import secrets
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from rtcstack.roles.portal import public_url
from rtcstack.runtime.database import Database
from rtcstack.site import Site
from tests import PROJECT_ROOT
from tests.conftest import rtcstack

BROWSER = Path(__file__).parent / "browser" / "portal_pages.py"
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
RESET_LINK = re.compile(r"https://\S+/reset/([A-Za-z0-9_-]{20,})")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "Portal-Test-Passw0rd!"
#: Every route of the portal that names an object by its ID, as (method, path): the integration tests walk them
#: all with another customer's IDs; tests/unit/web/test_portal_routes.py fails when a route is missing here.
ID_ROUTES = (
    ("GET", "/accounts/{account_id}"), ("POST", "/accounts/{account_id}"),
    ("POST", "/settings/sip-password/{account_id}"),
    ("GET", "/video-phones/contacts/{contact_id}"), ("POST", "/video-phones/contacts/{contact_id}"),
    ("POST", "/video-phones/contacts/{contact_id}/invite"),
    ("GET", "/admin/customers/{customer_id}"), ("POST", "/admin/customers/{customer_id}"),
    ("POST", "/admin/customers/{customer_id}/top-up"),
    ("POST", "/subscriptions/{profile_id}/quote"), ("POST", "/subscriptions/{profile_id}/buy"),
    ("GET", "/subscriptions/{profile_id}/cancel"), ("POST", "/subscriptions/{profile_id}/cancel"),
    ("GET", "/voicemail/{message_id}/audio"), ("POST", "/voicemail/{message_id}/delete"),
    ("GET", "/voicemail/greetings/{account_id}"), ("POST", "/voicemail/greetings/{account_id}"),
    ("POST", "/voicemail/greetings/{account_id}/remove"),
)
#: Routes that take an ID in their query: (method, path with the ID's placeholder).
ID_QUERIES = (("GET", "/billing?account={account_id}"), ("GET", "/billing.csv?account={account_id}"),
              ("GET", "/numbers/groups?name={group}"))
#: Forms that name another customer's things by name (ring group, account, number): refused, nothing changes.
NAME_POSTS = (("/numbers/groups/remove", {"name": "{group}"}), ("/routing/remove", {"account": "{account}", "position": "1"}),
              ("/numbers", {"number": "+{number}", "target": "{account}"}))


@dataclass
class Answer:
    status: int
    body: bytes
    headers: object
    url: str

    @property
    def text(self) -> str:
        return self.body.decode()

    @property
    def csrf(self) -> str:
        return CSRF.search(self.text).group(1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Client:
    """One visitor of the portal over HTTPS through the edge: its own cookies, redirects not followed."""

    lab: PortalLab
    language: str = "en"
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def __post_init__(self):
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # TLS itself: test_edge checks it
        self.opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                                  urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None) -> Answer:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        url = f"https://{self.lab.edge.advertised_address}{path}"  # the edge's name is in no DNS: its address
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Host": self.lab.edge_name, "Accept-Language": self.language,
            **({"Content-Type": "application/x-www-form-urlencoded"} if data else {}), **(headers or {})})
        try:
            with self.opener.open(request, timeout=30) as answer:
                return Answer(answer.status, answer.read(), answer.headers, url)
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.read(), exc.headers, url)

    def json(self, method: str, path: str, body: dict) -> Answer:
        url = f"https://{self.lab.edge.advertised_address}{path}"
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method=method, headers={
            "Host": self.lab.edge_name, "Content-Type": "application/json"})
        try:
            with self.opener.open(request, timeout=30) as answer:
                return Answer(answer.status, answer.read(), answer.headers, url)
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.read(), exc.headers, url)

    def get(self, path: str, **headers) -> Answer:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, form: dict, csrf_from: str | None = None) -> Answer:
        """POST `form` with the CSRF token of the page at `csrf_from` (default: `path`)."""
        token = self.get(csrf_from or path).csrf
        return self.request("POST", path, {**form, "csrf_token": token})

    def login(self, email: str, password: str = PASSWORD) -> Answer:
        return self.post("/login", {"email": email, "password": password, "next": "/"})


@dataclass
class PortalLab:
    inventory: str
    tmp: Path

    def __post_init__(self):
        self.site = Site.load(self.inventory)
        self.deployment = d = self.site.deployment
        self.edge = d.hosts_with("edge")[0]
        self.registrar = d.hosts_with("registrar")[0]
        self.public_url = public_url(d)
        self.edge_name = self.public_url.split("://", 1)[1].split("/")[0]

    # --- the operator's CLI ------------------------------------------------------------------------------

    def customer(self, accounts: int = 2, international: bool = True) -> tuple[str, list[tuple[str, str]]]:
        name = f"p-{secrets.token_hex(3)}"
        rtcstack("customers", "add", self.inventory, name, "--top-up", "1000", "--channels", "5",
                 "--international" if international else "--no-international")
        made = [(f"{name}-{i}", secrets.token_urlsafe(12) + "aA1!") for i in range(accounts)]
        path = self.tmp / f"{name}.csv"
        path.write_text("customer,username,password,international,max_rate\n"
                        + "".join(f"{name},{user},{password},yes,\n" for user, password in made))
        rtcstack("accounts", "import", self.inventory, str(path))
        return name, made

    def user(self, customer: str | None, role: str = "customer_admin", language: str = "en") -> str:
        """A portal user with PASSWORD set through the link `portal-users add` printed; their e-mail."""
        email = f"{role.replace('_', '.')}.{secrets.token_hex(3)}@example.org"
        args = ["--customer", customer, "--role", role] if customer else ["--provider"]
        out = rtcstack("portal-users", "add", self.inventory, email, *args, "--language", language).stdout
        token = RESET_LINK.search(out).group(1)
        client = Client(self)
        answer = client.post(f"/reset/{token}", {"password": PASSWORD, "confirm": PASSWORD})
        assert answer.status == 200 and "Log in" in answer.text, answer.text[:2000]
        return email

    def video_phone(self, customer: str, contacts: int = 2) -> tuple[str, list[str]]:
        """A video phone of `customer` with `contacts` video contacts (e-mail and mobile) and a phone contact."""
        phone = f"vp-{secrets.token_hex(3)}"
        rtcstack("video-phones", "add", self.inventory, phone, "--customer", customer, "--display-name", f"Anna {phone}")
        names = [f"Jane {secrets.token_hex(2)} {i}" for i in range(contacts)]
        for name in names:
            rtcstack("contacts", "add", self.inventory, "--video-phone", phone, "--name", name, "--language", "en",
                     "--email", f"jane.{secrets.token_hex(3)}@example.org", "--mobile", f"+48600{secrets.randbelow(10**6):06d}")
        rtcstack("contacts", "add", self.inventory, "--video-phone", phone, "--name", "Grandpa (landline)", "--phone-only")
        return phone, names

    def sql(self, query: str) -> list[list[str]]:
        return Database.connect(self.site).run(query)

    # --- Chromium ----------------------------------------------------------------------------------------

    def browser(self, out: Path) -> Browser:
        return Browser(self, out)


class Browser:
    """browser/portal_pages.py in its own process; `do(action, **fields)` sends one action, returns its answer."""

    def __init__(self, lab: PortalLab, out: Path):
        self.process = subprocess.Popen([sys.executable, str(BROWSER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, bufsize=1)
        params = {"origin": lab.public_url, "edge_name": lab.edge_name, "edge_address": str(lab.edge.advertised_address),
                  "out": str(out), "axe": str(AXE) if AXE.is_file() else ""}
        assert AXE.is_file(), f"{AXE} is missing: run scripts/bootstrap (npm ci)"
        self._send(params)
        assert self._read().get("ready"), "the browser did not start"

    def _send(self, message: dict) -> None:
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"the browser process ended: {self.process.stderr.read()[-4000:]}")
        return json.loads(line)

    def do(self, action: str, **fields) -> dict:
        self._send({"do": action, **fields})
        answer = self._read()
        assert "exception" not in answer, answer["exception"]
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            self._send({"do": "close"})
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

