"""http: each user requests the edge's pages over HTTPS on a kept-alive connection, verifying the
certificate against the deployment's CA (the links and portal pages join this scenario when those
services exist). Run it with `rtcstack load http INVENTORY`."""

import http.client
import json
import secrets
import ssl
from urllib.parse import urlsplit

from locust import User, between, task

from rtcstack.load.context import LoadContext
from rtcstack.load.support import ProtocolFailure, exchange


class EdgeUser(User):
    context = LoadContext.current()
    wait_time = between(0.5, 1.5)

    def on_start(self):
        self.tls = ssl.create_default_context(cafile=self.context.cafile)
        self.connection = None

    def _request(self, name: str, method: str, path: str, body: bytes | None = None, expect: bytes = b"") -> None:
        with exchange(self.environment, "HTTP", name) as outcome:
            if self.connection is None:
                self.connection = http.client.HTTPSConnection(urlsplit(self.context.edge_url).hostname, 443,
                                                              timeout=10, context=self.tls)
            try:
                self.connection.request(method, path, body=body,
                                        headers={"Content-Type": "application/json"} if body else {})
                response = self.connection.getresponse()
                answer = response.read()
                outcome["length"] = len(answer)
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
                raise
            if response.status != 200 or expect not in answer:
                raise ProtocolFailure(f"{method} {path}: {response.status} {answer[:80]!r}")

    @task(3)
    def health(self):
        self._request("GET /healthz", "GET", "/healthz", expect=b"ok")

    @task(1)
    def janus_ping(self):
        """A round trip through the edge to Janus that needs no session (ping is answered without a token)."""
        self._request("POST /janus ping", "POST", urlsplit(self.context.janus_url).path,
                      json.dumps({"janus": "ping", "transaction": secrets.token_hex(6)}).encode(), expect=b'"pong"')

    def on_stop(self):
        if self.connection is not None:
            self.connection.close()
