"""The TURN REST-API credential helper computes what coturn's own client computes from the same secret."""

import hashlib
import hmac
import re
import shutil
import socket
import struct
import subprocess
import time

import pytest
from aioice import stun

from rtcstack.protocols.turn_rest import rest_credentials, rest_password

SECRET = "north-wind-and-the-sun-4e7f1c"


def test_password_is_base64_hmac_sha1_of_the_username():
    # Computed independently: printf %s '1700000000:alice' | openssl dgst -sha1 -hmac KEY -binary | base64
    assert rest_password("key", "1700000000:alice") == "FkEMNtMTIK9R3Gk3ppLb3O/mxVw="


def test_credentials_expire_after_the_lifetime():
    creds = rest_credentials(SECRET, "alice", 600, now=1_700_000_000)
    assert creds.username == "1700000600:alice"
    assert creds.expires_at == 1_700_000_600
    assert creds.password == rest_password(SECRET, "1700000600:alice")


@pytest.mark.parametrize("user", ["", "a:b", "with space", "x" * 129])
def test_bad_user_names_are_refused(user):
    with pytest.raises(ValueError, match="TURN user"):
        rest_credentials(SECRET, user, 600)


def _integrity_matches(raw: bytes, key: bytes) -> bool:
    """RFC 5389 15.4: HMAC-SHA1 over the message up to MESSAGE-INTEGRITY, its length field covering it."""
    offset = 20
    while offset < len(raw):
        kind, length = struct.unpack("!HH", raw[offset:offset + 4])
        if kind == 0x0008:
            head = raw[:2] + struct.pack("!H", offset - 20 + 24) + raw[4:offset]
            return hmac.compare_digest(hmac.new(key, head, hashlib.sha1).digest(), raw[offset + 4:offset + 24])
        offset += 4 + length + (-length % 4)
    raise AssertionError("no MESSAGE-INTEGRITY in the message")


def _capture_authenticated_allocate(secret: str, user: str) -> stun.Message:
    """Answer turnutils_uclient's first Allocate with a 401 challenge and return its second, signed one."""
    realm, nonce = "lab.rtcstack.test", b"0123456789abcdef"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)
        port = server.getsockname()[1]
        client = subprocess.Popen(
            ["turnutils_uclient", "-W", secret, "-u", user, "-n", "1", "-m", "1", "-e", "127.0.0.1",
             "-p", str(port), "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                data, peer = server.recvfrom(2048)
                message = stun.parse_message(data)
                if message.message_method != stun.Method.ALLOCATE:
                    continue
                if "MESSAGE-INTEGRITY" in message.attributes:
                    return message, realm, data
                challenge = stun.Message(stun.Method.ALLOCATE, stun.Class.ERROR, message.transaction_id)
                challenge.attributes["ERROR-CODE"] = (401, "Unauthorized")
                challenge.attributes["REALM"] = realm
                challenge.attributes["NONCE"] = nonce
                server.sendto(bytes(challenge), peer)
        finally:
            client.kill()
            client.wait()


@pytest.mark.skipif(shutil.which("turnutils_uclient") is None, reason="coturn's turnutils_uclient is not installed")
def test_turnutils_uclient_signs_with_the_password_the_helper_computes():
    before = int(time.time())
    message, realm, raw = _capture_authenticated_allocate(SECRET, "alice")
    username = message.attributes["USERNAME"]
    expiry, user = re.fullmatch(r"(\d+):(.+)", username).groups()
    assert user == "alice"
    assert int(expiry) >= before  # an expiry in the future, as the REST scheme says
    key = hashlib.md5(f"{username}:{realm}:{rest_password(SECRET, username)}".encode()).digest()
    assert _integrity_matches(raw, key)
    wrong = hashlib.md5(f"{username}:{realm}:{rest_password('another-secret', username)}".encode()).digest()
    assert not _integrity_matches(raw, wrong)
