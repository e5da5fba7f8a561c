"""coturn with real peers over the lab network: turnutils_uclient/peer relays, credentials, quotas,
refused destinations, TLS and certificate renewal (M3)."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from cryptography import x509

from rtcstack.protocols.turn_rest import rest_credentials, rest_password
from rtcstack.site.pki import Pki
from tests.conftest import deploy, rtcstack
from tests.integration.media_lab import (
    _denied_destinations,
    _presented_certificate,
    uclient,
    uclient_command,
    user,
)

pytestmark = pytest.mark.integration


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


def test_turn_refuses_relays_to_loopback_and_non_allowed_private_addresses(media):
    creds = rest_credentials(media.turn_secret, user(), 600)
    for destination in _denied_destinations(media):
        out = uclient(media, "-u", creds.username, "-w", creds.password, "-e", destination, "-r", "3480",
                      messages=5, timeout=30)
        assert "403 (Forbidden IP)" in out, (destination, out[-2000:])
        assert "tot_recv_msgs=10" not in out


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
