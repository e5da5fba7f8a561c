"""Time-limited TURN credentials, the REST-API scheme coturn checks with `use-auth-secret` (M3).

The username is `EXPIRY:USER` (EXPIRY in Unix seconds) and the password is
base64(HMAC-SHA1(shared secret, username)); coturn recomputes the password from the secret it shares
with us and refuses the username once EXPIRY has passed. Nothing is stored per user.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass

#: coturn's default separator between expiry and user name (`rest-api-separator`).
SEPARATOR = ":"
_USER = re.compile(r"^[A-Za-z0-9._@+-]{1,128}$")


@dataclass(frozen=True)
class TurnCredentials:
    username: str
    password: str
    expires_at: int
    uris: tuple[str, ...] = ()

    def ice_server(self) -> dict:
        """The `RTCIceServer` a browser passes to `RTCPeerConnection`."""
        return {"urls": list(self.uris), "username": self.username, "credential": self.password}


def rest_password(secret: str, username: str) -> str:
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def rest_credentials(secret: str, user: str, lifetime_seconds: int, now: float | None = None,
                     uris: tuple[str, ...] = ()) -> TurnCredentials:
    """Credentials for `user` valid for `lifetime_seconds` from `now` (default: the current time)."""
    if not _USER.match(user):
        raise ValueError(f"TURN user {user!r}: use 1 to 128 letters, digits or . _ @ + - (no '{SEPARATOR}')")
    if lifetime_seconds <= 0:
        raise ValueError(f"TURN credential lifetime {lifetime_seconds}: must be positive")
    expires_at = int(time.time() if now is None else now) + lifetime_seconds
    username = f"{expires_at}{SEPARATOR}{user}"
    return TurnCredentials(username, rest_password(secret, username), expires_at, uris)
