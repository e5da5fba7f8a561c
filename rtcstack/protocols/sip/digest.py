"""HTTP digest for SIP (RFC 2617 / RFC 8760): MD5 and SHA-256, with qop=auth."""

from __future__ import annotations

import hashlib
import re

from .identifiers import token_hex

ALGORITHMS = {"MD5": "md5", "SHA-256": "sha256"}
#: The algorithms' constructors themselves: `hashlib.new(name)` goes through a Python wrapper first (2.4 % of
#: sip_register's CPU at 400 phones a user, py-spy).
_CONSTRUCTORS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
_PARAMS = re.compile(r'(\w+)=("[^"]*"|[^,\s]+)')


def parse_challenge(header: str) -> dict[str, str]:
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "digest":
        raise ValueError(f"not a digest challenge: {header[:40]!r}")
    return {k.lower(): v.strip('"') for k, v in _PARAMS.findall(rest)}


def ha1(challenge: dict[str, str], username: str, password: str) -> str:
    """H(username:realm:password) with the challenge's algorithm: the same for every nonce of that realm."""
    algorithm = challenge.get("algorithm", "MD5").upper()
    return hashlib.new(ALGORITHMS[algorithm], f"{username}:{challenge['realm']}:{password}".encode()).hexdigest()


def authorization(challenge: dict[str, str], method: str, uri: str, username: str, password: str,
                  nc: int = 1, cnonce: str | None = None, known_ha1: str | None = None) -> str:
    """The Authorization / Proxy-Authorization value answering a challenge (`known_ha1`: ha1() kept from before)."""
    form = Form(challenge, method, uri)
    return form.answer(challenge["nonce"], username, known_ha1 or form.ha1(username, password),
                       cnonce or token_hex(8), nc)


#: A challenge's nonce and where it sits (the rest of a registrar's challenges is the same from one to the next).
_NONCE = re.compile(r'(?<![\w-])nonce[ \t]*=[ \t]*"([^"]*)"', re.IGNORECASE)


class Form:
    """What a challenge asks, less its nonce: answered for any nonce with what does not depend on it computed once
    (the algorithm's hash, H(method:uri), the fields around the response); `authorization()` answers through it."""

    __slots__ = ("realm", "algorithm", "uri", "ha2", "qop_auth", "opaque", "_hash")

    def __init__(self, challenge: dict[str, str], method: str, uri: str):
        self.realm, self.uri = challenge["realm"], uri
        self.algorithm = challenge.get("algorithm", "MD5").upper()
        self._hash = _CONSTRUCTORS[self.algorithm]
        self.ha2 = self.hash(f"{method}:{uri}")
        self.qop_auth = "auth" in [q.strip() for q in challenge.get("qop", "").split(",")]
        self.opaque = f', opaque="{challenge["opaque"]}"' if "opaque" in challenge else ""

    def hash(self, text: str) -> str:
        return self._hash(text.encode()).hexdigest()

    def ha1(self, username: str, password: str) -> str:
        return self.hash(f"{username}:{self.realm}:{password}")

    def answer(self, nonce: str, username: str, ha1: str, cnonce: str, nc: int = 1) -> str:
        head = (f'Digest username="{username}", realm="{self.realm}", nonce="{nonce}", uri="{self.uri}", '
                f"algorithm={self.algorithm}, ")
        if self.qop_auth:
            count = f"{nc:08x}"
            response = self.hash(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{self.ha2}")
            return f'{head}response="{response}", qop=auth, nc={count}, cnonce="{cnonce}"{self.opaque}'
        return f'{head}response="{self.hash(f"{ha1}:{nonce}:{self.ha2}")}"{self.opaque}'


class Forms:
    """The challenges one client answers for `method` and `uri`, each parsed once per form: a registrar challenges
    every REGISTER with a fresh nonce and nothing else new, so the next challenge costs a search for its nonce and
    a dictionary lookup, not a parse."""

    #: Forms kept at most (a registrar has one or two: MD5 and SHA-256, or a stale one).
    KEPT = 16

    def __init__(self, method: str, uri: str):
        self.method, self.uri = method, uri
        self._forms: dict[str, Form] = {}

    def read(self, header: str) -> tuple[Form, str] | None:
        """The form and nonce of a WWW-/Proxy-Authenticate value; None for one this client cannot answer (not
        digest, no realm or nonce, an unknown algorithm)."""
        found = _NONCE.search(header)
        shape = header[:found.start(1)] + header[found.end(1):] if found else None
        form = self._forms.get(shape) if shape is not None else None
        if form is not None:
            return form, found.group(1)
        try:
            challenge = parse_challenge(header)
        except ValueError:
            return None
        if "realm" not in challenge or "nonce" not in challenge or \
                challenge.get("algorithm", "MD5").upper() not in ALGORITHMS:
            return None
        form = Form(challenge, self.method, self.uri)
        if shape is not None and len(self._forms) < self.KEPT:
            self._forms[shape] = form
        return form, challenge["nonce"]
