"""http: each user requests the edge's pages over HTTPS on a kept-alive connection, verifying the
certificate against the deployment's CA (the links and portal pages join this scenario when those
services exist). Run it with `rtcstack load http INVENTORY`."""

import http.client
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

    def _get(self, path: str, expect: int = 200):
        with exchange(self.environment, "HTTP", f"GET {path}") as outcome:
            if self.connection is None:
                self.connection = http.client.HTTPSConnection(urlsplit(self.context.edge_url).hostname, 443,
                                                              timeout=10, context=self.tls)
            try:
                self.connection.request("GET", path)
                response = self.connection.getresponse()
                outcome["length"] = len(response.read())
            except (OSError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
                raise
            if response.status != expect:
                raise ProtocolFailure(f"{path}: {response.status}, expected {expect}")

    @task(3)
    def health(self):
        self._get("/healthz")

    @task(1)
    def janus_info(self):
        self._get("/janus/info")

    def on_stop(self):
        if self.connection is not None:
            self.connection.close()
