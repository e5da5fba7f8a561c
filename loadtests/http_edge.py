"""http: each user requests the edge's pages over HTTPS on a kept-alive connection, verifying the
certificate against the deployment's CA: the edge's health page, a Janus ping, with a links role an invite
page (it must carry the QR code) and redeems of fresh invites (each creates a SIP account; once a user's invites
are spent it redeems unknown links, which must get 404), and with a portal role it logs in to the portal (the login
form with its CSRF token, then the session cookie) and browses the dashboard, the SIP accounts and the billing
history. Run it with `rtcstack load http INVENTORY`."""

import http.client
import json
import re
import secrets
import ssl
from urllib.parse import urlencode, urlsplit

from locust import User, between, task

from rtcstack.load.context import LoadContext
from rtcstack.load.support import SLOTS, ProtocolFailure, exchange

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _cookies(response) -> dict[str, str]:
    """name -> value of the cookies a response sets."""
    return dict(header.split(";", 1)[0].strip().split("=", 1) for header in response.headers.get_all("Set-Cookie") or []
                if "=" in header)


class EdgeUser(User):
    context = LoadContext.current()
    wait_time = between(0.5, 1.5)

    component = "http"

    def on_start(self):
        self.tls = ssl.create_default_context(cafile=self.context.cafile)
        self.connection = None
        invites = self.context.invites
        self.slot = SLOTS.take(self.environment, self.component) if invites else None
        self.redeemable = list(invites["redeem"][self.slot]) if invites else []
        self.cookie = self._log_in() if self.context.portal else ""

    def _request(self, name: str, method: str, path: str, body: bytes | None = None, expect: bytes = b"",
                 status: int = 200, headers: dict | None = None) -> None:
        with exchange(self.environment, "HTTP", name) as outcome:
            if self.connection is None:
                self.connection = http.client.HTTPSConnection(urlsplit(self.context.edge_url).hostname, 443,
                                                              timeout=10, context=self.tls)
            try:
                self.connection.request(method, path, body=body, headers={
                    **({"Content-Type": "application/json"} if body else {}), **(headers or {})})
                response = self.connection.getresponse()
                answer = response.read()
                outcome["length"] = len(answer)
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
                raise
            if response.status != status or expect not in answer:
                raise ProtocolFailure(f"{method} {path}: {response.status} {answer[:80]!r}")

    @task(3)
    def health(self):
        self._request("GET /healthz", "GET", "/healthz", expect=b"ok")

    @task(1)
    def janus_ping(self):
        """A round trip through the edge to Janus that needs no session (ping is answered without a token)."""
        self._request("POST /janus ping", "POST", urlsplit(self.context.janus_url).path,
                      json.dumps({"janus": "ping", "transaction": secrets.token_hex(6)}).encode(), expect=b'"pong"')

    @task(2)
    def invite_page(self):
        if self.context.invites:
            self._request("GET /i/TOKEN", "GET", f"/i/{self.context.invites['page']}", expect=b'id="qr"')

    @task(1)
    def redeem(self):
        """A fresh invite creates an account (201); once this user's are spent, an unknown link gets 404."""
        if not self.context.invites:
            return
        if self.redeemable:
            token, status, expect = self.redeemable.pop(), 201, b'"registrars"'
        else:
            token, status, expect = secrets.token_urlsafe(24), 404, b'"unknown"'
        self._request("POST /api/v1/redeem", "POST", "/api/v1/redeem", json.dumps({"token": token}).encode(),
                      expect=expect, status=status)

    def _log_in(self) -> str:
        """The portal's login form, then the login: the cookies the session runs on ("" when it failed)."""
        cookies: dict[str, str] = {}
        with exchange(self.environment, "HTTP", "POST /login", reschedule=False) as outcome:
            connection = http.client.HTTPSConnection(urlsplit(self.context.edge_url).hostname, 443, timeout=10,
                                                     context=self.tls)
            try:
                connection.request("GET", "/login")
                form = connection.getresponse()
                page = form.read().decode()
                cookies.update(_cookies(form))
                found = CSRF.search(page)
                body = urlencode({"email": self.context.portal["email"], "password": self.context.portal["password"],
                                  "csrf_token": found.group(1) if found else "", "next": "/dashboard"})
                connection.request("POST", "/login", body=body, headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())})
                answer = connection.getresponse()
                outcome["length"] = len(answer.read())
                cookies.update(_cookies(answer))
            finally:
                connection.close()
            if answer.status != 303 or "portal_session" not in cookies:
                raise ProtocolFailure(f"POST /login: {answer.status}")
        return "; ".join(f"{k}={v}" for k, v in cookies.items()) if "portal_session" in cookies else ""

    @task(2)
    def dashboard(self):
        if self.cookie:
            self._request("GET /dashboard", "GET", "/dashboard", expect=b'class="facts"', headers={"Cookie": self.cookie})

    @task(1)
    def accounts(self):
        if self.cookie:
            self._request("GET /accounts", "GET", "/accounts", expect=b'id="lamps"', headers={"Cookie": self.cookie})

    @task(1)
    def billing(self):
        if self.cookie:
            self._request("GET /billing", "GET", "/billing", expect=b"</h1>", headers={"Cookie": self.cookie})

    def on_stop(self):
        if self.connection is not None:
            self.connection.close()
        if self.slot is not None:
            SLOTS.give_back(self.component, self.slot)
