"""The sipp injection file's [authentication] field: real sipp registers with every password as given, against a
digest-checking registrar on 127.0.0.1; what a field cannot carry is refused naming why."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading

import pytest

from rtcstack.protocols.sip import digest
from rtcstack.protocols.sip.sipp import MAX_BYTES, authentication
from tests import PROJECT_ROOT

REALM = "sipp.test"
CHALLENGE = {"realm": REALM, "nonce": "5f3e", "qop": "auth"}
_HEADER = re.compile(r"^([\w-]+):\s*(.*)$", re.M)


class DigestRegistrar:
    """Answers REGISTER on 127.0.0.1: 401 with CHALLENGE without credentials, then 200 when the response is the
    digest of the account's password, else 403. `verdicts`: (username, code) of each answer to credentials."""

    def __init__(self, accounts: dict[str, str]):
        self.accounts, self.verdicts = accounts, []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            text = data.decode(errors="replace")
            headers = {name.lower(): value.strip() for name, value in _HEADER.findall(text)}
            code, extra = 401, f'WWW-Authenticate: Digest realm="{REALM}", nonce="{CHALLENGE["nonce"]}", qop="auth"\r\n'
            if "authorization" in headers:
                given = {k.lower(): v.strip('"') for k, v in re.findall(r'(\w+)=("[^"]*"|[^,\s]+)',
                                                                        headers["authorization"])}
                user, extra = given["username"], ""
                wanted = digest.authorization(CHALLENGE, "REGISTER", given["uri"], user, self.accounts.get(user, "\0"),
                                              nc=int(given["nc"], 16), cnonce=given["cnonce"])
                code = 200 if f'response="{given["response"]}"' in wanted else 403
                self.verdicts.append((user, code))
            reply = (f"SIP/2.0 {code} {'OK' if code == 200 else 'No'}\r\nVia: {headers['via']}\r\n"
                     f"From: {headers['from']}\r\nTo: {headers['to']};tag=r1\r\nCall-ID: {headers['call-id']}\r\n"
                     f"CSeq: {headers['cseq']}\r\n{extra}Content-Length: 0\r\n\r\n")
            self.sock.sendto(reply.encode(), peer)

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


AWKWARD = {
    "alice": "0x1fAb9c",                # sipp read an unquoted 0x... as hex bytes
    "bob": 'a\\x41b"c\\',               # a backslash before x41 (sipp's template reads \xHH), a quote, a last one
    "carol": "a[call_id]b]c;d",         # a keyword, the keyword's end, the injection file's separator
    "password=x": "secret=1 2",         # a parameter's name inside the username; '=' and a space
    "dave": "z" * (MAX_BYTES - 1),      # as long as sipp's buffer holds
}


@pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp is not installed (scripts/bootstrap installs it)")
def test_sipp_registers_with_every_password_as_given(tmp_path):
    registrar = DigestRegistrar(AWKWARD)
    try:
        rows = "".join(f"{user};{authentication(user, password)};{REALM}\n" for user, password in AWKWARD.items())
        (tmp_path / "accounts.csv").write_text("SEQUENTIAL\n" + rows)
        done = subprocess.run(
            ["sipp", f"127.0.0.1:{registrar.port}", "-sf", str(PROJECT_ROOT / "loadtests/sipp/register.xml"),
             "-inf", str(tmp_path / "accounts.csv"), "-i", "127.0.0.1", "-p", str(free_udp_port()), "-m", str(len(AWKWARD)),
             "-r", "50", "-nostdin", "-timeout", "20s", "-timeout_error", "-trace_err",
             "-error_file", str(tmp_path / "errors")],
            capture_output=True, text=True, timeout=40)
    finally:
        registrar.close()
    assert sorted(registrar.verdicts) == sorted((user, 200) for user in AWKWARD), done.stderr[-2000:]
    assert done.returncode == 0, done.stdout[-2000:]


@pytest.mark.parametrize("which, value, named", [
    ("password", "", "needs a password"), ("username", "", "needs a username"),
    ("password", "a\0b", "NUL"), ("password", "a\nb", "line break"), ("username", "a\rb", "line break"),
    ("password", "z" * (MAX_BYTES + 1), "over its 256"), ("password", "]" * 64 + "z", "over its 256"),
])
def test_what_a_field_cannot_carry_is_refused_naming_why_and_never_showing_the_password(which, value, named):
    with pytest.raises(ValueError, match=named) as refused:
        authentication(*(("u", value) if which == "password" else (value, "p")))
    assert which in str(refused.value) and (len(value) < 2 or value not in str(refused.value))
