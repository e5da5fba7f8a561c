"""PostgreSQL login roles for rtcstack's services, with SCRAM-SHA-256 verifiers computed here.

The verifier's salt is derived from the password, so the same secret gives the same verifier on every
run: the roles file changes (and is applied) only when a password is rotated, and the plain password
never reaches the database host's disk or a command line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from ..config import Deployment

SCRAM_ITERATIONS = 4096


def scram_verifier(password: str, salt_seed: str) -> str:
    """PostgreSQL's `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` for a password (RFC 5803)."""
    salt = hmac.new(password.encode(), f"rtcstack-scram-salt:{salt_seed}".encode(), hashlib.sha256).digest()[:16]
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


@dataclass(frozen=True)
class DatabaseUser:
    """A login role: the service role it serves, its secret, and the hosts it connects from."""

    name: str
    role: str
    secret: str
    #: Whether pg_hba requires TLS for this user (Kamailio 5.6 cannot use libpq's TLS next to its own).
    tls: bool = True


#: One database user per service role that reads or writes the database.
DATABASE_USERS = (
    DatabaseUser("kamailio", "registrar", "database_registrar_password", tls=False),
    DatabaseUser("rtcstack_links", "links", "database_links_password"),
    DatabaseUser("rtcstack_portal", "portal", "database_portal_password"),
)


def users_for(deployment: Deployment) -> list[DatabaseUser]:
    """The users this deployment needs: those whose service role has hosts."""
    return [user for user in DATABASE_USERS if user.role in deployment.roles_used]


def verifiers(deployment: Deployment) -> dict[str, str]:
    return {user.name: scram_verifier(deployment.secret(user.secret), user.name) for user in users_for(deployment)}
