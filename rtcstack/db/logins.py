"""SCRAM-SHA-256 verifiers for PostgreSQL logins, computed here.

The verifier's salt is derived from the password, so the same secret gives the same verifier on every
run: the roles file changes (and is applied) only when a password is rotated, and the plain password
never reaches the database host's disk or a command line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SCRAM_ITERATIONS = 4096


def scram_verifier(password: str, salt_seed: str) -> str:
    """PostgreSQL's `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` for a password (RFC 5803)."""
    salt = hmac.new(password.encode(), f"rtcstack-scram-salt:{salt_seed}".encode(), hashlib.sha256).digest()[:16]
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda raw: base64.b64encode(raw).decode()
    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"
