"""CSRF protection for every HTML form: a double-submit token bound to the browser. The first page sets a random
`csrf` cookie (HttpOnly, SameSite=Strict, Secure); forms carry `csrf_token`, an HMAC of that cookie under the
service's signing key; a POST whose field does not match its cookie is refused with 403. No server state."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import HTTPException, Request, Response

COOKIE = "csrf"
FIELD = "csrf_token"


def _mac(key: str, nonce: str) -> str:
    return hmac.new(key.encode(), f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()


def nonce(request: Request) -> tuple[str, bool]:
    """This browser's CSRF nonce, and whether it is new (then `set_cookie` must send it)."""
    current = request.cookies.get(COOKIE, "")
    if len(current) == 43:
        return current, False
    return secrets.token_urlsafe(32), True


def token(key: str, browser_nonce: str) -> str:
    """The value forms carry in `csrf_token`."""
    return _mac(key, browser_nonce)


def set_cookie(response: Response, browser_nonce: str) -> None:
    response.set_cookie(COOKIE, browser_nonce, httponly=True, secure=True, samesite="strict", path="/")


def verify(request: Request, submitted: str | None, key: str) -> None:
    nonce = request.cookies.get(COOKIE, "")
    if not nonce or not submitted or not hmac.compare_digest(_mac(key, nonce), submitted):
        raise HTTPException(status_code=403, detail="the form expired or came from another site; reload the page")
