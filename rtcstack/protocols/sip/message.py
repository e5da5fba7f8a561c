"""SIP messages (RFC 3261): parse what arrives, build what we send. Invalid input raises SipParseError."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

COMPACT = {"i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length", "c": "content-type",
           "f": "from", "s": "subject", "k": "supported", "t": "to", "v": "via"}
_TOKEN = r"[A-Za-z0-9.!%*_+`'~-]+"  # RFC 3261 25.1 token: a method is one
_REQUEST_LINE = re.compile(rf"^({_TOKEN}) ([A-Za-z][A-Za-z0-9+.-]*:\S+) SIP/2\.0$")
_STATUS_LINE = re.compile(r"^SIP/2\.0 ([1-6][0-9]{2})(?: (.*))?$")
_CSEQ = re.compile(rf"^([0-9]{{1,10}})\s+({_TOKEN})$")
_NAME_ADDR_HEADERS = frozenset(("from", "to", "contact", "route", "record-route", "reply-to"))
_REQUIRED = ("via", "from", "to", "call-id", "cseq")
CSEQ_MAX = 2**31 - 1


class SipParseError(ValueError):
    pass


@dataclass
class SipMessage:
    """A request (method, uri) or a response (status, reason), headers in arrival order, and a body."""

    first_line: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    method: str | None = None
    uri: str | None = None
    status: int | None = None
    reason: str = ""
    #: A parsed message's first value of each header, by stored name (`parse` sets it: a parsed message is read,
    #: not changed); None for one being built, whose `get` reads the list.
    first_values: dict[str, str] | None = field(default=None, repr=False, compare=False)

    @property
    def is_request(self) -> bool:
        return self.method is not None

    def get(self, name: str, default: str | None = None) -> str | None:
        key = _KEYS.get(name) or _key(name)
        if self.first_values is not None:
            return self.first_values.get(key, default)
        for stored, value in self.headers:
            if stored == key:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        key = _KEYS.get(name) or _key(name)
        return [value for stored, value in self.headers if stored == key]

    @property
    def call_id(self) -> str:
        return self.get("call-id") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = (self.get("cseq") or "0 ?").partition(" ")
        return int(number), method.strip()

    def tag(self, header: str) -> str | None:
        match = re.search(r";\s*tag\s*=\s*([^;\s,]+)", self.get(header) or "")
        return match.group(1) if match else None

    def encode(self) -> bytes:
        lines = [self.first_line] + [f"{_canonical(k)}: {v}" for k, v in self.headers if k != "content-length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


#: Header names as callers of `get` write them ("Call-ID", "v") to their stored form. Apart from parse's `_NAMES`,
#: which holds only names found valid on the wire (a name asked for is not checked).
_KEYS: dict[str, str] = {}


def _stored(name: str) -> str:
    """A header name's stored form: lower case, a compact form expanded."""
    lower = name.strip().lower()
    return COMPACT.get(lower, lower)


def _key(name: str) -> str:
    key = _stored(name)
    if len(_KEYS) < 1024:  # the names a program asks for are few
        _KEYS[name] = key
    return key


_CANONICAL = {"call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate"}


def _canonical(name: str) -> str:
    canonical = _CANONICAL.get(name)
    if canonical is None:
        canonical = "-".join(part.capitalize() for part in name.split("-"))
        if len(_CANONICAL) < 1024:  # the names a run sends are few
            _CANONICAL[name] = canonical
    return canonical


def request(method: str, uri: str, headers: list[tuple[str, str]], body: bytes = b"") -> SipMessage:
    return SipMessage(f"{method} {uri} SIP/2.0", [(k.lower(), v) for k, v in headers], body, method=method, uri=uri)


def response_to(req: SipMessage, status: int, reason: str, to_tag: str | None = None,
                extra: list[tuple[str, str]] = (), body: bytes = b"") -> SipMessage:
    """A response copying Via, From, To (adding our tag), Call-ID and CSeq from the request."""
    headers = [(k, v) for k, v in req.headers if k in ("via", "from", "call-id", "cseq", "record-route")]
    to = req.get("to") or ""
    if to_tag and ";tag=" not in to:
        to = f"{to};tag={to_tag}"
    headers.insert(2, ("to", to))
    return SipMessage(f"SIP/2.0 {status} {reason}", headers + [(k.lower(), v) for k, v in extra], body,
                      status=status, reason=reason)


_QUOTE = re.compile(r'(?<!\\)"')
#: Header names (as written) already found valid, to their stored form (lower case, compact forms expanded).
_NAMES: dict[str, str] = {}
_NAME = re.compile(r"[A-Za-z0-9!%*_+`'~.-]+")


def _check_values(message: SipMessage) -> None:
    """The scalar and structural checks RFC 4475's invalid messages probe (section 3.1.2)."""
    cseq = _CSEQ.match(message.get("cseq") or "")
    if not cseq or int(cseq.group(1)) > CSEQ_MAX:
        raise SipParseError(f"bad CSeq {message.get('cseq')!r}: a number below 2**31 and a method")
    if message.is_request and cseq.group(2) != message.method:
        raise SipParseError(f"CSeq method {cseq.group(2)} does not match the request method {message.method}")
    forwards = message.get("max-forwards")
    if forwards is not None and not (forwards.isdigit() and int(forwards) <= 255):
        raise SipParseError(f"bad Max-Forwards {forwards!r}: 0 to 255")
    expires = message.get("expires")
    if expires is not None and expires.isdigit() and int(expires) > 2**32 - 1:
        raise SipParseError(f"Expires {expires} is larger than 2**32-1")
    for key, value in message.headers:
        if key in _NAME_ADDR_HEADERS:
            if '"' in value and len(_QUOTE.findall(value)) % 2:
                raise SipParseError(f"unterminated quoted string in {key}: {value[:60]!r}")
            if value.count("<") != value.count(">"):
                raise SipParseError(f"unbalanced <> in {key}: {value[:60]!r}")


def parse(data: bytes) -> SipMessage:
    """Parse one datagram; raise SipParseError on anything RFC 3261 does not allow."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise SipParseError("no blank line after the headers")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError(f"headers are not UTF-8: {exc}") from None
    lines = text.split("\r\n")
    first = lines[0]
    message = SipMessage(first)
    if first.startswith("SIP/"):  # a response (a request line ends with the version, never starts with it)
        if not (match := _STATUS_LINE.match(first)):
            raise SipParseError(f"bad start line: {first[:80]!r}")
        message.status, message.reason = int(match.group(1)), match.group(2) or ""
    elif match := _REQUEST_LINE.match(first):
        message.method, message.uri = match.group(1), match.group(2)
    else:
        raise SipParseError(f"bad start line: {first[:80]!r}")
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and message.headers:  # folded continuation
            key, value = message.headers[-1]
            message.headers[-1] = (key, f"{value} {line.strip()}".strip())
            continue
        name, colon, value = line.partition(":")
        key = _NAMES.get(name) if colon else None
        if key is None:
            if not colon or not _NAME.fullmatch(name.strip()):
                raise SipParseError(f"bad header line: {line[:80]!r}")
            key = _stored(name)
            if len(_NAMES) < 1024:
                _NAMES[name] = key
        message.headers.append((key, value.strip()))
    message.first_values = dict(reversed(message.headers))  # (the earliest value of a name is the one kept)
    for required in _REQUIRED:
        if required not in message.first_values:
            raise SipParseError(f"missing {required} header")
    _check_values(message)
    length = message.get("content-length")
    if length is not None:
        if not length.isdigit() or int(length) > len(body):
            raise SipParseError(f"Content-Length {length} does not fit the {len(body)}-byte body")
        body = body[: int(length)]
    message.body = body
    return message
