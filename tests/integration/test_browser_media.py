"""The browser media plane with real peers over the lab network: coturn with turnutils_uclient/peer, Janus
through the nginx edge, and a WebRTC session in headless Chromium relayed through TURN (M2, M3, M4)."""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path

import pytest
from cryptography import x509

from rtcstack.site import Deployment, Host, Site
from rtcstack.protocols.janus import VIDEOROOM, JanusError, JanusHttp, signed_token
from rtcstack.site.pki import Pki
from rtcstack.runtime.remote import connect
from rtcstack.protocols.turn_rest import rest_credentials, rest_password
from rtcstack.roles.turn import credentials_for
from tests.conftest import LAB_INVENTORIES, deploy, rtcstack

pytestmark = pytest.mark.integration

BROWSER = Path(__file__).parent / "browser" / "webrtc_session.py"


@dataclass
class MediaLab:
    inventory: str
    deployment: Deployment
    site: Site

    def __post_init__(self):
        d = self.deployment
        self.turn: Host = d.hosts_with("turn")[0]
        self.sfu: Host = d.hosts_with("sfu")[0]
        self.edge: Host = d.hosts_with("edge")[0]
        self.ca = str(Pki.for_inventory(self.inventory).directory / "ca.crt")
        self.turn_secret = d.secret("turn_shared_secret")

    def run_on(self, host: Host, command: str) -> str:
        return connect(self.site, [host.name])[host.name].run(command)

    def janus(self, **auth) -> JanusHttp:
        return JanusHttp(f"https://{self.edge.advertised_address}{self.deployment.edge.janus_path}", cafile=self.ca,
                         **auth)

    def room(self) -> int:
        """A fresh video room, created the way rtcstack's services create one: API secret and room key."""
        admin = self.janus(api_secret=self.deployment.secret("janus_api_secret"))
        admin.create()
        handle = admin.attach(VIDEOROOM)
        room = secrets.randbelow(10**9) + 10**6
        reply = admin.message(handle, {"request": "create", "room": room, "publishers": 4,
                                       "admin_key": self.deployment.secret("janus_room_key")})
        assert reply["plugindata"]["data"].get("videoroom") == "created", reply
        admin.destroy()
        return room


@pytest.fixture(scope="module", params=LAB_INVENTORIES, ids=lambda p: p.split("/")[-1][:-3])
def media(request, lab_runner) -> MediaLab:
    lab_runner(request.param)
    site = Site.load(request.param)
    return MediaLab(request.param, site.deployment, site)


# --- TURN: coturn's own client and peer ---------------------------------------------------------


@pytest.fixture(scope="module")
def turn_peer(media):
    """turnutils_peer on an sfu host (a relay destination the model allows), another host than turn1 where
    the lab has one. It listens on the last port of Janus' RTP range, which that host's firewall opens."""
    assert shutil.which("turnutils_uclient"), "coturn's turnutils_uclient is missing: run scripts/bootstrap"
    host = media.sfu
    port = media.deployment.sfu_rtp_ports.end
    media.run_on(host, "command -v turnutils_peer >/dev/null || { systemctl mask coturn.service; "
                       "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends coturn; }")
    media.run_on(host, f"pkill -x turnutils_peer || true; setsid timeout 900 turnutils_peer "
                       f"-L {host.private_address} -p {port} </dev/null >/dev/null 2>&1 & sleep 0.5; echo started")
    yield str(host.advertised_address), port
    media.run_on(host, "pkill -x turnutils_peer || true")


def user() -> str:
    """A fresh TURN user name: coturn counts allocations per user (user_quota), and turnutils_uclient leaves
    its allocations to expire."""
    return f"uclient-{secrets.token_hex(4)}"


def uclient_command(media: MediaLab, *args: str, messages: int = 50, clients: int = 2) -> list[str]:
    """turnutils_uclient from this machine: `clients` allocations (no RTCP ones), `messages` each."""
    return ["turnutils_uclient", *args, "-c", "-n", str(messages), "-m", str(clients), "-l", "120",
            str(media.turn.advertised_address), "-p", str(media.deployment.turn.listening_port)]


def uclient(media: MediaLab, *args: str, messages: int = 50, clients: int = 2, timeout: float = 60) -> str:
    command = uclient_command(media, *args, messages=messages, clients=clients)
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    return result.stdout + result.stderr


def test_turn_relays_to_a_peer_on_another_host_with_rtcstack_credentials_without_loss(media, turn_peer):
    address, port = turn_peer
    issued = json.loads(rtcstack("turn-credentials", media.inventory, user(), "--lifetime", "600").stdout)
    server = issued["iceServers"][0]
    assert f"turn:{media.turn.advertised_address}:3478?transport=udp" in server["urls"]
    out = uclient(media, "-u", server["username"], "-w", server["credential"], "-e", address, "-r", str(port))
    assert "tot_send_msgs=100, tot_recv_msgs=100" in out, out[-2000:]
    assert "Total lost packets 0 (0.000000%)" in out, out[-2000:]


def test_turn_accepts_credentials_turnutils_derives_from_the_shared_secret(media, turn_peer):
    address, port = turn_peer
    out = uclient(media, "-W", media.turn_secret, "-u", user(), "-e", address, "-r", str(port), messages=10)
    assert "tot_send_msgs=20, tot_recv_msgs=20" in out, out[-2000:]


@pytest.mark.parametrize("case", ["expired", "wrong secret"])
def test_turn_refuses_expired_credentials_and_a_wrong_secret(media, turn_peer, case):
    address, port = turn_peer
    if case == "expired":
        username = f"{int(time.time()) - 60}:{user()}"
        password = rest_password(media.turn_secret, username)
    else:
        creds = rest_credentials("not-the-shared-secret-0123456789", user(), 600)
        username, password = creds.username, creds.password
    out = uclient(media, "-u", username, "-w", password, "-e", address, "-r", str(port), messages=5, timeout=30)
    assert "Cannot complete Allocation" in out, out[-2000:]
    assert "tot_recv_msgs=10" not in out


def test_turn_enforces_the_per_user_allocation_quota(media, turn_peer):
    address, port = turn_peer
    quota = media.deployment.turn.user_quota
    creds = rest_credentials(media.turn_secret, user(), 600)
    out = uclient(media, "-u", creds.username, "-w", creds.password, "-e", address, "-r", str(port), messages=2,
                  clients=quota + 1)
    assert "486" in out or "Allocation Quota Reached" in out, out[-2000:]


def _denied_destinations(media: MediaLab) -> list[str]:
    """Loopback, and a lab address no sfu or media host has (the database host in the six-host lab)."""
    allowed = {str(n.network_address) for n in media.deployment.turn_allowed_peers}
    subnet = media.deployment.lab.subnet
    others = [str(h.private_address) for h in media.deployment.hosts.values() if str(h.private_address) not in allowed]
    return ["127.0.0.1", others[0] if others else str(subnet[250])]


def test_turn_refuses_relays_to_loopback_and_non_allowed_private_addresses(media):
    creds = rest_credentials(media.turn_secret, user(), 600)
    for destination in _denied_destinations(media):
        out = uclient(media, "-u", creds.username, "-w", creds.password, "-e", destination, "-r", "3480",
                      messages=5, timeout=30)
        assert "403 (Forbidden IP)" in out, (destination, out[-2000:])
        assert "tot_recv_msgs=10" not in out


def _presented_certificate(address: str, port: int, server_name: str, cafile: str) -> x509.Certificate:
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection((address, port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def test_turn_tls_listener_presents_the_pki_certificate(media):
    name = media.deployment.dns_name(media.turn)
    cert = _presented_certificate(str(media.turn.advertised_address), media.deployment.turn.tls_listening_port, name,
                                  media.ca)
    expected = Pki.for_inventory(media.inventory).host(media.deployment, media.turn).certificate
    assert cert == x509.load_pem_x509_certificate(expected.encode())


def test_turn_picks_up_a_renewed_certificate_without_dropping_allocations(media, turn_peer, lab_runner):
    """A deploy after the certificate was renewed signals coturn (same process, new certificate served), and
    allocations carry traffic without loss across that reload."""
    if media.inventory != "inventories/lab.py":
        pytest.skip("renewal is exercised once, on the six-host lab")
    d, turn = media.deployment, media.turn
    pki = Pki.for_inventory(media.inventory)
    old = pki.host(d, turn).certificate
    (pki.directory / "hosts" / f"{turn.name}.crt").unlink()  # the next deploy issues a new one
    pid = media.run_on(turn, "systemctl show -p MainPID --value coturn.service").strip()
    result = deploy(media.inventory, lab_runner.tmp)
    assert result["returncode"] == 0, result["output"][-4000:]
    assert any("Reload coturn's certificate" in c for c in result["changed"]), result["changed"]
    assert media.run_on(turn, "systemctl show -p MainPID --value coturn.service").strip() == pid
    new = pki.host(d, turn).certificate
    assert new != old
    served = _presented_certificate(str(turn.advertised_address), d.turn.tls_listening_port, d.dns_name(turn),
                                    media.ca)
    assert served == x509.load_pem_x509_certificate(new.encode())
    # Traffic through two allocations while coturn reloads its certificate again.
    address, port = turn_peer
    creds = rest_credentials(media.turn_secret, user(), 600)
    command = uclient_command(media, "-u", creds.username, "-w", creds.password, "-e", address, "-r", str(port),
                              "-z", "20", messages=300)
    running = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(5)
    media.run_on(turn, "systemctl kill --signal=SIGUSR2 coturn.service")
    out = running.communicate(timeout=60)[0]
    assert "tot_send_msgs=600, tot_recv_msgs=600" in out and "Total lost packets 0 (" in out, out[-2000:]


# --- the edge and Janus ---------------------------------------------------------------------------


def test_edge_serves_https_with_the_pki_certificate_and_redirects_http(media):
    edge, e = media.edge, media.deployment.edge
    cert = _presented_certificate(str(edge.advertised_address), e.https_port, media.deployment.sip_domain, media.ca)
    assert media.deployment.sip_domain in cert.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    with socket.create_connection((str(edge.advertised_address), e.http_port), timeout=5) as plain:
        plain.sendall(b"GET /some/path HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n")
        head = plain.recv(4096).decode()
    assert head.startswith("HTTP/1.1 301") and "Location: https://example.test/some/path" in head
    context = ssl.create_default_context(cafile=media.ca)
    with urllib.request.urlopen(f"https://{edge.advertised_address}/healthz", context=context, timeout=5) as reply:
        headers = reply.headers
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    assert "nginx/" not in (headers["Server"] or "")


def test_janus_info_is_public_but_a_session_needs_the_secret_or_a_valid_token(media):
    d = media.deployment
    assert media.janus().info()["name"] == "Janus WebRTC Server"
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


def _tcp_open(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=2).close()
        return True
    except OSError:
        return False


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


# --- a real WebRTC session through TURN ------------------------------------------------------------


@pytest.fixture(scope="module")
def webrtc(media) -> dict:
    """Publisher and subscriber in headless Chromium, ICE restricted to relay candidates on turn1 (UDP)."""
    assert Path("/usr/bin/chromium").exists(), "Debian's chromium is missing: run scripts/bootstrap"
    d = media.deployment
    udp = f"turn:{media.turn.advertised_address}:{d.turn.listening_port}?transport=udp"
    ice = []
    for user in ("publisher", "subscriber"):
        creds = credentials_for(d, f"{user}-{secrets.token_hex(3)}")
        ice.append([{**creds.ice_server(), "urls": [udp]}])
    params = {
        "edge_name": media.edge.name, "edge_address": str(media.edge.advertised_address),
        "janus_path": d.edge.janus_path, "room": media.room(), "ice_servers": ice, "seconds": 6,
        "tokens": [signed_token(d.secret("janus_token_secret"), lifetime_seconds=300) for _ in range(2)],
    }
    result = subprocess.run([sys.executable, str(BROWSER)], input=json.dumps(params), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout)


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


def _candidates(sdp: str) -> list[tuple[str, str]]:
    """(address, type) of every a=candidate line."""
    out = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            fields = line.split()
            out.append((fields[4], fields[fields.index("typ") + 1]))
    return out


def test_every_advertised_address_equals_the_model(media, webrtc):
    turn_address, sfu_address = str(media.turn.advertised_address), str(media.sfu.advertised_address)
    for side in ("publisher", "subscriber"):
        sdp = webrtc[side]["sdp"]
        browser, janus = _candidates(sdp["localSdp"]), _candidates(sdp["remoteSdp"])
        assert browser and all(c == (turn_address, "relay") for c in browser), (side, browser)
        assert janus and all(address == sfu_address for address, _ in janus), (side, janus)
        assert all(ip_address(a).version == 4 for a, _ in janus)
