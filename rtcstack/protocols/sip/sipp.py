"""Fields of a sipp injection file (`-inf`): sipp is the reference SIP tool the tests and benchmarks drive.

sipp reads `[authentication username=U password=P]` from a field and computes the digest itself. An unquoted
value that starts with `0x` is read as hex bytes (sipp's getKeywordParam, meant for AKA keys), so a password such
as `0xAbc...` would be sent as other bytes and fail as a wrong password: one generated password in 4,096 starts so.
A quoted value is taken as written, with `\\` escaping the next character.
"""

from __future__ import annotations

# The field separator, the end of the keyword, and what ends a line: none can be carried inside a field.
_UNSAFE = {";": "the injection file's field separator", "]": "the end of sipp's [authentication] keyword",
           "\n": "a line break", "\r": "a line break"}


def authentication(username: str, password: str) -> str:
    """The `[authentication ...]` keyword for a field of a sipp injection file, both values quoted."""
    for name, value in (("username", username), ("password", password)):
        for char, what in _UNSAFE.items():
            if char in value:
                raise ValueError(f"a sipp injection file cannot carry this {name}: it holds {char!r} ({what})")
    quoted = [value.replace("\\", "\\\\").replace('"', '\\"') for value in (username, password)]
    return f'[authentication username="{quoted[0]}" password="{quoted[1]}"]'
