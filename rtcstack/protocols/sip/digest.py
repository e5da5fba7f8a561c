"""HTTP digest for SIP (RFC 2617 / RFC 8760): MD5 and SHA-256, with qop=auth."""

from __future__ import annotations

import hashlib
import re
import secrets

ALGORITHMS = {"MD5": "md5", "SHA-256": "sha256"}
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
    algorithm = challenge.get("algorithm", "MD5").upper()
    h = lambda text: hashlib.new(ALGORITHMS[algorithm], text.encode()).hexdigest()  # noqa: E731
    realm, nonce = challenge["realm"], challenge["nonce"]
    ha1 = known_ha1 or h(f"{username}:{realm}:{password}")
    ha2 = h(f"{method}:{uri}")
    fields = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"',
              f"algorithm={algorithm}"]
    qops = [q.strip() for q in challenge.get("qop", "").split(",") if q.strip()]
    if "auth" in qops:
        cnonce, count = cnonce or secrets.token_hex(8), f"{nc:08x}"
        response = h(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}")
        fields += [f'response="{response}"', "qop=auth", f"nc={count}", f'cnonce="{cnonce}"']
    else:
        fields.append(f'response="{h(f"{ha1}:{nonce}:{ha2}")}"')
    if "opaque" in challenge:
        fields.append(f'opaque="{challenge["opaque"]}"')
    return "Digest " + ", ".join(fields)
