"""Fields of a sipp injection file (`-inf`): sipp is the reference SIP tool the tests and benchmarks drive.

sipp reads `[authentication username=U password=P]` from a field and computes the digest itself. How it reads
the values (sipp 3.6.1, checked against a digest-checking server, tests/unit/protocols/test_sipp_fields.py):
- an unquoted value that starts with `0x` is read as hex bytes (meant for AKA keys): one generated password in
  4,096 starts so, and failed as a wrong password;
- a quoted value is taken up to the closing quote, `\\` escaping the next character; then each value is read
  again as a message template, where `\\xHH` is the byte HH and `[` opens a keyword;
- each parameter is found by its name anywhere in the keyword (`password=` inside a username would be taken);
- the keyword ends at the first `]`, quoted or not, and the injection file's fields are split at `;`.

So both values are quoted, every character of those that matter is written as `\\xHH`, and each value is at most
sipp's buffer (256 bytes).
"""

from __future__ import annotations

#: Characters written as `\xHH`: the keyword's and the field's syntax, and the template's.
_ENCODED = frozenset('\\[];"=')
#: sipp copies each value into a buffer of 256 characters and one NUL, without a bound.
MAX_BYTES = 256


def _value(name: str, value: str) -> str:
    if not value:
        raise ValueError(f"a sipp injection file needs a {name}: an empty one falls back to sipp's -au/-ap")
    for char, what in (("\0", "a NUL, which ends sipp's string"), ("\n", "a line break"), ("\r", "a line break")):
        if char in value:
            raise ValueError(f"a sipp injection file cannot carry this {name}: it holds {what}")
    encoded = "".join(f"\\x{ord(c):02X}" if c in _ENCODED else c for c in value)
    if len(encoded.encode()) > MAX_BYTES:  # (sipp holds it as written here, before it reads \xHH)
        raise ValueError(f"a sipp injection file cannot carry this {name}: {len(encoded.encode())} bytes as "
                         f"written for sipp, over its {MAX_BYTES}")
    return '"' + encoded.replace("\\", "\\\\") + '"'


def authentication(username: str, password: str) -> str:
    """The `[authentication ...]` keyword for a field of a sipp injection file: sipp reads back both values as
    given, whatever characters they hold."""
    return f"[authentication username={_value('username', username)} password={_value('password', password)}]"
