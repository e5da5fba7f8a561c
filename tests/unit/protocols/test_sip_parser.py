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


def test_a_parsed_message_gives_each_headers_first_value_by_any_spelling_of_its_name():
    message = parse(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2\r\nv: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
                    b"Record-Route: <sip:p1;lr>\r\nrecord-route: <sip:p2;lr>\r\nFrom: <sip:a@x>;tag=1\r\n"
                    b"To: <sip:b@x>;tag=2\r\nCall-ID: abc\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n")
    assert message.status == 200 and message.cseq == (7, "INVITE")
    assert message.get("Via") == message.get("v") == message.get("VIA") == "SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK2"
    assert message.get_all("Record-Route") == ["<sip:p1;lr>", "<sip:p2;lr>"]
    assert message.get("Contact") is None and message.get("contact", "none") == "none"
    assert message.tag("To") == "2" and message.call_id == "abc"


def test_a_status_line_that_is_not_one_is_refused():
    for first in (b"SIP/2.0 20 OK", b"SIP/2.0 700 Nope", b"SIP/3.0 200 OK", b"SIP/2.0  200 OK"):
        with pytest.raises(SipParseError, match="bad start line"):
            parse(first + b"\r\nVia: a\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n")


def test_the_media_address_is_the_audio_sections_own_connection_line_else_the_sessions():
    from rtcstack.protocols.sip.agent import sdp_media

    session = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
    assert sdp_media(session + b"m=audio 4000 RTP/AVP 0\r\n") == ("10.0.0.1", 4000)
    assert sdp_media(session + b"m=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.9\r\n") == ("10.0.0.9", 4000)
    assert sdp_media(session + b"m=video 5000 RTP/AVP 96\r\nc=IN IP4 10.0.0.7\r\nm=audio 4000 RTP/AVP 0\r\n") \
        == ("10.0.0.1", 4000)
    assert sdp_media(b"v=0\r\nm=audio 4000 RTP/AVP 0\r\n") is None
