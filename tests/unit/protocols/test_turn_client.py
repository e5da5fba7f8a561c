"""The TURN client's codec (aioice's STUN module) and its long-term key, against the RFC 5769 test vectors."""

import hashlib
import socket
import threading

from aioice import stun

from rtcstack.protocols.turn import TurnClient


def _bytes(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


# RFC 5769 2.1: sample request (short-term credentials, password "VOkJxbRl1RmTxUk/WvJxBt").
REQUEST = _bytes("""
00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
00 24 00 04 6e 00 01 ff
80 29 00 08 93 2f f9 b1 51 26 3b 36
00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
80 28 00 04 e5 7a 3b cf""")

# RFC 5769 2.2: sample IPv4 response.
RESPONSE = _bytes("""
01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
00 20 00 08 00 01 a1 47 e1 12 a6 43
00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
80 28 00 04 c0 7d 4c 96""")

# RFC 5769 2.4: request with long-term authentication.
LONG_TERM = _bytes("""
00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41
00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66""")


def test_sample_request_parses_and_its_integrity_and_fingerprint_verify():
    message = stun.parse_message(REQUEST)  # a wrong FINGERPRINT raises
    assert message.message_method == stun.Method.BINDING and message.message_class == stun.Class.REQUEST
    assert message.attributes["USERNAME"] == "evtj:h6vY"
    assert message.attributes["SOFTWARE"] == "STUN test client"
    assert message.check_message_integrity(b"VOkJxbRl1RmTxUk/WvJxBt")
    assert not message.check_message_integrity(b"another password")


def test_sample_response_gives_the_xor_mapped_address():
    message = stun.parse_message(RESPONSE)
    assert message.message_class == stun.Class.RESPONSE
    assert message.attributes["XOR-MAPPED-ADDRESS"] == ("192.0.2.1", 32853)
    assert message.check_message_integrity(b"VOkJxbRl1RmTxUk/WvJxBt")


def test_long_term_key_is_md5_of_user_realm_password():
    message = stun.parse_message(LONG_TERM)
    user, realm = message.attributes["USERNAME"], message.attributes["REALM"]
    assert (user, realm) == ("\u30de\u30c8\u30ea\u30c3\u30af\u30b9", "example.org")
    # The password "The<U+00AD>M<U+00AA>tr<U+2163>x" after SASLprep is "TheMatrIX".
    key = hashlib.md5(f"{user}:{realm}:TheMatrIX".encode()).digest()
    assert message.check_message_integrity(key)


def test_a_damaged_message_is_rejected_not_crashed_on():
    for damaged in (REQUEST[:-3], REQUEST[:20] + b"\xff" * 8, b"\x00" * 7):
        try:
            stun.parse_message(damaged)
        except ValueError:
            continue
        raise AssertionError(f"accepted {damaged!r}")


def test_client_answers_the_challenge_with_the_long_term_key_and_reads_the_relay():
    """A fake TURN server on 127.0.0.1: 401 with realm and nonce, then success only if the integrity
    verifies under MD5(username:realm:password)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(5)
    verified = []

    def serve():
        for _ in range(2):
            data, source = server.recvfrom(2048)
            request = stun.parse_message(data)
            if "MESSAGE-INTEGRITY" not in request.attributes:
                reply = stun.Message(request.message_method, stun.Class.ERROR, request.transaction_id,
                                     {"ERROR-CODE": (401, "Unauthorized"), "REALM": "lab.test", "NONCE": b"n0nce"})
            else:
                key = hashlib.md5(f"{request.attributes['USERNAME']}:lab.test:pw".encode()).digest()
                verified.append(request.check_message_integrity(key) and request.attributes["NONCE"] == b"n0nce")
                reply = stun.Message(request.message_method, stun.Class.RESPONSE, request.transaction_id,
                                     {"XOR-RELAYED-ADDRESS": ("192.0.2.7", 50000),
                                      "XOR-MAPPED-ADDRESS": ("127.0.0.1", source[1]), "LIFETIME": 600})
            server.sendto(bytes(reply), source)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = TurnClient(server.getsockname(), "1700000000:alice", "pw", local_address="127.0.0.1")
    try:
        assert client.allocate() == ("192.0.2.7", 50000)
        assert verified == [True]
    finally:
        client.close(release=False)
        thread.join(timeout=2)
        server.close()
