"""Fixtures the role tests share: the SIP service's lab (registrar tests) and the browser media plane's lab
with a TURN peer (turn, sfu, edge tests), once per lab inventory and test module."""

import shutil

import pytest

from rtcstack.site import Site
from tests.conftest import LAB_INVENTORIES, PROJECT_ROOT, rtcstack
from tests.integration.media_lab import MediaLab
from tests.integration.sip_lab import SipLab


@pytest.fixture(scope="module", params=LAB_INVENTORIES, ids=lambda p: p.split("/")[-1][:-3])
def media(request, lab_runner) -> MediaLab:
    lab_runner(request.param)
    site = Site.load(request.param)
    return MediaLab(request.param, site.deployment, site)


@pytest.fixture(scope="module")
def turn_peer(media):
    """turnutils_peer on an sfu host (a relay destination the model allows), another host than turn1 where
    the lab has one. It listens on a free port at the top of Janus' RTP range, which that host's firewall opens
    (Janus may hold the last ones for sessions of earlier tests: the peer could not bind there)."""
    assert shutil.which("turnutils_uclient"), "coturn's turnutils_uclient is missing: run scripts/bootstrap"
    host = media.sfu
    top = media.deployment.sfu_rtp_ports.end
    media.run_on(host, "command -v turnutils_peer >/dev/null || { systemctl mask coturn.service; "
                       "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends coturn; }")
    started = media.run_on(host, (
        f"pkill -x turnutils_peer || true; sleep 0.2; "
        f"for port in $(seq {top} -1 {top - 30}); do "
        f"ss -Hlun \"sport = :$port\" | grep -q . && continue; "
        f"setsid timeout 1800 turnutils_peer -L {host.private_address} -p $port </dev/null >/dev/null 2>&1 & "
        f"for i in $(seq 50); do ss -Hlun \"sport = :$port\" | grep -q . && {{ echo $port; exit 0; }}; sleep 0.1; done; "
        f"done; exit 1"))
    port = int(started.strip().splitlines()[-1])
    yield str(host.advertised_address), port
    media.run_on(host, "pkill -x turnutils_peer || true")


@pytest.fixture(scope="module", params=LAB_INVENTORIES, ids=lambda p: p.split("/")[-1][:-3])
def sip(request, lab_runner, tmp_path_factory) -> SipLab:
    lab_runner(request.param)
    lab = SipLab(request.param, tmp_path_factory.mktemp("sip"))
    rtcstack("tariffs", "import", request.param, str(PROJECT_ROOT / "docs/tariffs-sample.csv"))
    return lab


@pytest.fixture(scope="module")
def lab_only(sip):
    if sip.inventory != "inventories/lab.py":
        pytest.skip("the heavier signalling checks run once, on the six-host lab")
    return sip
