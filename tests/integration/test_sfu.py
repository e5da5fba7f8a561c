"""Janus through the nginx edge, and a WebRTC session in headless Chromium relayed through TURN to the SFU
(M2, M4)."""

from __future__ import annotations

import json
import socket
import ssl
from ipaddress import ip_address

import pytest

from rtcstack.protocols.janus import VIDEOROOM, JanusError, signed_token
from tests.integration.media_lab import _candidates, _tcp_open

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def webrtc(media) -> dict:
    """Publisher and subscriber in headless Chromium, ICE restricted to relay candidates on turn1 (UDP)."""
    return media.webrtc_session()


def test_the_edge_hides_janus_info_and_cors_but_a_session_needs_the_secret_or_a_valid_token(media):
    """/janus/info (the SFU's private address and build) is refused at the edge and no answer carries
    Access-Control-Allow-Origin; on the SFU host the operator still reads it."""
    import urllib.error
    import urllib.request

    d = media.deployment
    with pytest.raises(urllib.error.HTTPError) as refused_info:
        media.janus().info()
    assert refused_info.value.code == 404
    ping = urllib.request.Request(f"https://{media.edge.advertised_address}{d.edge.janus_path}",
                                  data=b'{"janus": "ping", "transaction": "t1"}',
                                  headers={"Origin": "https://elsewhere.example", "Content-Type": "application/json"})
    with urllib.request.urlopen(ping, context=ssl.create_default_context(cafile=media.ca), timeout=10) as answer:
        assert json.loads(answer.read())["janus"] == "pong"
        assert answer.headers.get("Access-Control-Allow-Origin") is None
    on_sfu = media.run_on(media.sfu, f"curl -s http://{media.sfu.private_address}:{d.sfu.http_port}/janus/info")
    assert json.loads(on_sfu)["name"] == "Janus WebRTC Server"
    for good in ({"api_secret": d.secret("janus_api_secret")}, {"token": signed_token(d.secret("janus_token_secret"))}):
        session = media.janus(**good)
        assert session.create() > 0
        session.destroy()
    refused = [{}, {"api_secret": "not-the-api-secret-0123456789"},
               {"token": signed_token("not-the-token-secret-0123456789")},
               {"token": signed_token(d.secret("janus_token_secret"), lifetime_seconds=-60)}]
    for bad in refused:
        with pytest.raises(JanusError) as caught:
            media.janus(**bad).create()
        assert caught.value.code == 403, bad


def test_janus_creates_rooms_only_with_the_room_key(media):
    d = media.deployment
    session = media.janus(token=signed_token(d.secret("janus_token_secret")))
    session.create()
    handle = session.attach(VIDEOROOM)
    # Janus' video-room codes: 429 a mandatory element is missing, 433 unauthorized.
    for body, code in (({"request": "create"}, 429),
                       ({"request": "create", "admin_key": "not-the-room-key-0123456789"}, 433)):
        data = session.message(handle, body)["plugindata"]["data"]
        assert data.get("error_code") == code and data.get("videoroom") != "created", data
    rooms = session.message(handle, {"request": "list"})["plugindata"]["data"]["list"]
    assert not [r for r in rooms if r["room"] == 1234]  # no demo rooms
    session.destroy()


def test_janus_admin_api_is_on_loopback_only(media):
    d, sfu = media.deployment, media.sfu
    admin = f"http://127.0.0.1:{d.sfu.admin_port}/admin"
    reply = json.loads(media.run_on(sfu, f"curl -s -m 5 -X POST -d '{{\"janus\":\"info\",\"transaction\":\"t\","
                                         f"\"admin_secret\":\"{d.secret('janus_admin_secret')}\"}}' {admin}"))
    assert reply["janus"] == "server_info"
    for address in {sfu.private_address, sfu.advertised_address}:
        assert not _tcp_open(str(address), d.sfu.admin_port)  # from this machine
        others = [h for h in d.hosts.values() if h.name != sfu.name]
        for other in others:
            probe = media.run_on(other, f"curl -s -m 3 -o /dev/null -w '%{{http_code}}' http://{address}:"
                                        f"{d.sfu.admin_port}/admin || echo unreachable")
            assert probe.strip().endswith("unreachable") or probe.strip().startswith("000"), (other.name, probe)


def test_janus_apis_are_reachable_only_through_the_edge(media):
    """The Janus HTTP and WebSocket ports are closed to this machine (not an edge host)."""
    d, sfu = media.deployment, media.sfu
    assert not _tcp_open(str(sfu.private_address), d.sfu.http_port)
    assert not _tcp_open(str(sfu.private_address), d.sfu.websocket_port)


def test_janus_websocket_api_answers_through_the_edge(media):
    """An HTTP/1.1 upgrade to the edge's WebSocket path with Janus' subprotocol gets 101 from Janus."""
    edge, e = media.edge, media.deployment.edge
    context = ssl.create_default_context(cafile=media.ca)
    with socket.create_connection((str(edge.advertised_address), e.https_port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=media.deployment.sip_domain) as tls:
            tls.sendall((f"GET {e.janus_websocket_path} HTTP/1.1\r\nHost: {media.deployment.sip_domain}\r\n"
                         "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: janus-protocol\r\n\r\n"
                         ).encode())
            head = tls.recv(4096).decode(errors="replace")
    assert head.startswith("HTTP/1.1 101"), head
    assert "janus-protocol" in head.lower()


def test_webrtc_subscriber_decodes_video_published_through_turn(webrtc):
    publisher, subscriber = webrtc["publisher"], webrtc["subscriber"]
    assert publisher["connectionState"] == subscriber["connectionState"] == "connected"
    assert publisher["video"]["framesEncoded"] >= 60
    # Six seconds of the fake camera: at least a few seconds of decoded frames at their real size.
    assert subscriber["video"]["framesDecoded"] >= 60, subscriber["video"]
    assert subscriber["video"]["frameWidth"] == 320


def test_webrtc_selected_pairs_relay_through_turn1_to_the_sfu(media, webrtc):
    for side in ("publisher", "subscriber"):
        pair = webrtc[side]["pair"]
        assert pair["state"] == "succeeded"
        assert pair["local"]["type"] == "relay", (side, pair)
        assert pair["local"]["address"] == str(media.turn.advertised_address), (side, pair)
        assert str(media.turn.advertised_address) in pair["local"]["url"]
        assert pair["remote"]["address"] == str(media.sfu.advertised_address), (side, pair)


def test_every_advertised_address_equals_the_model(media, webrtc):
    turn_address, sfu_address = str(media.turn.advertised_address), str(media.sfu.advertised_address)
    for side in ("publisher", "subscriber"):
        sdp = webrtc[side]["sdp"]
        browser, janus = _candidates(sdp["localSdp"]), _candidates(sdp["remoteSdp"])
        assert browser and all(c == (turn_address, "relay") for c in browser), (side, browser)
        assert janus and all(address == sfu_address for address, _ in janus), (side, janus)
        assert all(ip_address(a).version == 4 for a, _ in janus)
