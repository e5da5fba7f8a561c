"""The links service's side of the conference gateway's control API (roles/gateway.py): a room's calls go
to one gateway host, chosen by room number, so every links worker and host reaches the same one."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass


class GatewayUnavailable(Exception):
    pass


@dataclass(frozen=True)
class GatewayClient:
    urls: tuple[str, ...]
    token: str
    timeout: float = 5.0

    def _request(self, method: str, room: int, path: str, body: dict | None = None) -> dict:
        url = self.urls[room % len(self.urls)] + path
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Content-Type": "application/json", "Authorization": f"Bearer {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")[:300]
            raise GatewayUnavailable(f"the gateway answered {error.code}: {detail}") from None
        except (OSError, ValueError) as error:
            raise GatewayUnavailable(f"the gateway cannot be reached: {error}") from None

    def call(self, room: int, **target) -> dict:
        return self._request("POST", room, "/calls", {"room": room, **target})

    def state(self, room: int) -> dict:
        return self._request("GET", room, f"/calls/{room}")

    def hang_up(self, room: int) -> dict:
        return self._request("DELETE", room, f"/calls/{room}")
