"""The SIP parser on compact headers and garbage."""

import pytest

from rtcstack.protocols.sip.message import SipParseError, parse


def test_sip_parser_reads_compact_headers_and_rejects_garbage():
    message = parse(b"INVITE sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\n"
                    b"f: <sip:a@x>;tag=1\r\nt: <sip:b@x>\r\ni: abc\r\nCSeq: 1 INVITE\r\nl: 3\r\n\r\nabcdef")
    assert message.method == "INVITE" and message.call_id == "abc" and message.body == b"abc"
    for bad in (b"HELLO\r\n\r\n", b"INVITE sip:x SIP/2.0\r\nVia: x\r\n\r\n",
                b"SIP/2.0 200 OK\r\nVia: a\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: 1 X\r\nContent-Length: 99\r\n\r\n"):
        with pytest.raises(SipParseError):
            parse(bad)
