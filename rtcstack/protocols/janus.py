"""Janus API access: signed, expiring tokens for browsers and a small HTTP API client (M2).

Janus accepts a request carrying either the API secret (rtcstack's own services) or a token signed with
`token_auth_secret`: `EXPIRY,janus,PLUGIN[,PLUGIN...]:base64(HMAC-SHA1(secret, "EXPIRY,janus,PLUGIN..."))`,
which limits the holder to the plugins named and stops working at EXPIRY.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

VIDEOROOM = "janus.plugin.videoroom"
TEXTROOM = "janus.plugin.textroom"
AUDIOBRIDGE = "janus.plugin.audiobridge"
ECHOTEST = "janus.plugin.echotest"
STREAMING = "janus.plugin.streaming"
#: What a conference link's browser may use.
CONFERENCE_PLUGINS = (VIDEOROOM, AUDIOBRIDGE, TEXTROOM, ECHOTEST, STREAMING)
#: Janus' realm for signed tokens (fixed by Janus).
TOKEN_REALM = "janus"


def signed_token(secret: str, plugins: tuple[str, ...] = (VIDEOROOM, TEXTROOM), lifetime_seconds: int = 3600,
                 now: float | None = None) -> str:
    if not plugins or any("," in p or ":" in p for p in plugins):
        raise ValueError(f"Janus token plugins {plugins!r}: name at least one plugin, without ',' or ':'")
    expiry = int(time.time() if now is None else now) + lifetime_seconds
    data = ",".join((str(expiry), TOKEN_REALM, *plugins))
    signature = base64.b64encode(hmac.new(secret.encode(), data.encode(), hashlib.sha1).digest()).decode()
    return f"{data}:{signature}"


class JanusError(Exception):
    """Janus answered with an error: `code` is Janus' own (403 unauthorized, 458 no such session...)."""

    def __init__(self, code: int, reason: str):
        super().__init__(f"Janus error {code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass
class JanusHttp:
    """One Janus session over the HTTP API (`base_url` such as https://web1/janus), authenticated with the
    API secret or a token."""

    base_url: str
    api_secret: str | None = None
    token: str | None = None
    cafile: str | None = None
    timeout: float = 10.0
    session_id: int | None = None
    _ssl: ssl.SSLContext | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.base_url.startswith("https:"):
            self._ssl = ssl.create_default_context(cafile=self.cafile)

    # --- transport ------------------------------------------------------------------------------

    def _request(self, path: str, body: dict | None = None, timeout: float | None = None) -> dict:
        url = self.base_url.rstrip("/") + path
        data = None
        if body is not None:
            body = {**body, "transaction": secrets.token_hex(8)}
            if self.api_secret:
                body["apisecret"] = self.api_secret
            if self.token:
                body["token"] = self.token
            data = json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout or self.timeout, context=self._ssl) as response:
            reply = json.loads(response.read())
        if isinstance(reply, dict) and reply.get("janus") == "error":
            error = reply.get("error", {})
            raise JanusError(error.get("code", 0), error.get("reason", "unknown"))
        return reply

    def _auth_query(self) -> str:
        parts = []
        if self.api_secret:
            parts.append(f"apisecret={urllib.parse.quote(self.api_secret)}")
        if self.token:
            parts.append(f"token={urllib.parse.quote(self.token)}")
        return "&".join(parts)

    # --- API ----------------------------------------------------------------------------------

    def info(self) -> dict:
        return self._request("/info")

    def create(self) -> int:
        self.session_id = self._request("", {"janus": "create"})["data"]["id"]
        return self.session_id

    def attach(self, plugin: str = VIDEOROOM) -> int:
        return self._request(f"/{self.session_id}", {"janus": "attach", "plugin": plugin})["data"]["id"]

    def message(self, handle: int, body: dict, jsep: dict | None = None) -> dict:
        """Send a plugin request; a synchronous answer is returned, an asynchronous one is an `ack`."""
        request = {"janus": "message", "body": body}
        if jsep:
            request["jsep"] = jsep
        return self._request(f"/{self.session_id}/{handle}", request)

    def events(self, max_events: int = 10, timeout: float = 35.0) -> list[dict]:
        """Long-poll the session's events (Janus holds the request up to 30 s)."""
        query = f"?maxev={max_events}&rid={int(time.time() * 1000)}"
        auth = self._auth_query()
        reply = self._request(f"/{self.session_id}{query}{'&' + auth if auth else ''}", timeout=timeout)
        return reply if isinstance(reply, list) else [reply]

    def join_room(self, handle: int, room: int, display: str = "", timeout: float = 10.0) -> dict:
        """Join a video room as a participant (publishing nothing yet); the `joined` event's data."""
        self.message(handle, {"request": "join", "ptype": "publisher", "room": room, "display": display})
        return self.wait_for_plugin_event(lambda data: data.get("videoroom") == "joined", timeout)

    def leave_room(self, handle: int, timeout: float = 10.0) -> dict:
        self.message(handle, {"request": "leave"})
        return self.wait_for_plugin_event(lambda data: data.get("leaving") == "ok" or data.get("videoroom") == "left",
                                          timeout)

    def wait_for_plugin_event(self, wanted, timeout: float = 10.0) -> dict:
        """Long-poll until a plugin event whose data satisfies `wanted`; a plugin error raises JanusError."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events(max_events=10, timeout=max(1.0, min(35.0, deadline - time.monotonic() + 1))):
                data = event.get("plugindata", {}).get("data", {})
                if "error_code" in data:
                    raise JanusError(data["error_code"], data.get("error", "plugin error"))
                if wanted(data):
                    return data
        raise JanusError(0, f"no matching plugin event within {timeout:.0f} s")

    def keepalive(self) -> None:
        self._request(f"/{self.session_id}", {"janus": "keepalive"})

    def destroy(self) -> None:
        if self.session_id is not None:
            try:
                self._request(f"/{self.session_id}", {"janus": "destroy"})
            except (JanusError, urllib.error.URLError):
                pass
            self.session_id = None


def room_path(janus_path: str, index: int, hosts: int) -> str:
    """The edge's path to the index-th SFU host's Janus API: a room lives on one host, and with several hosts its
    participants are sent there (`/sfu/N/janus`); one host keeps the plain path."""
    return janus_path if hosts == 1 else f"/sfu/{index}{janus_path}"

