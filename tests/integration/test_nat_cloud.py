"""Servers behind a 1:1 NAT, as in a cloud (inventories/cloud.py): cloud1's public_address differs from its
private one, and clients on the public network (the `outside` client container) reach only the public one.
Registration, calls with media, and WebRTC from outside, and every address a client sees is public."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass
from ipaddress import ip_address

import pytest

from rtcstack.lab import Lab
from rtcstack.lab_nat import OUTSIDE, NatClient, NatNetworks
from rtcstack.site import Host, Site
from tests.integration.media_lab import MediaLab, _candidates
from tests.integration.nat_lab import NatAgent
from tests.integration.sip_lab import SipLab

CLOUD = "inventories/cloud.py"

pytestmark = [pytest.mark.integration, pytest.mark.cloud, pytest.mark.brings_up(CLOUD)]

ADDRESS = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")


@dataclass
class CloudLab:
    sip: SipLab
    outside: NatClient
    host: Host

    def agent(self, account: tuple[str, str], **options) -> NatAgent:
        """rtcstack's SIP agent on the outside client, talking to the registrar's public address."""
        return NatAgent(self.outside, str(self.host.public_address), self.sip.sip_port, self.sip.domain, account,
                        **options)


@pytest.fixture(scope="module")
def cloud(lab_runner, tmp_path_factory) -> CloudLab:
    lab_runner(CLOUD)
    sip = SipLab(CLOUD, tmp_path_factory.mktemp("cloud"))
    site = sip.site
    outside = NatNetworks(Lab(site.deployment, site.name, key_dir=site.path.parent)).get(OUTSIDE)
    host = next(iter(site.deployment.hosts.values()))
    assert host.public_address and host.public_address != host.private_address
    return CloudLab(sip, outside, host)


def _reachable_from_outside(cloud: CloudLab, address: str, port: int) -> bool:
    probe = (f"import socket\ntry:\n socket.create_connection(({address!r}, {port}), timeout=3).close()\n"
             f" print('open')\nexcept OSError as e:\n print('closed', e)")
    result = subprocess.run(cloud.outside.command([sys.executable, "-c", probe]), capture_output=True, text=True,
                            timeout=30, check=True)
    return result.stdout.startswith("open")


def test_outside_clients_reach_the_public_address_only(cloud):
    port = cloud.sip.deployment.registrar.sip_tls_port
    assert _reachable_from_outside(cloud, str(cloud.host.public_address), port)
    assert not _reachable_from_outside(cloud, str(cloud.host.private_address), port)


def test_register_and_call_from_outside_carry_rtp_and_show_only_public_addresses(cloud):
    """Two phones outside register at the public address and call each other with RTP both ways; every
    address in every SIP message and SDP they receive is the server's public one or their own."""
    sip = cloud.sip
    callee, caller = sip.accounts(sip.customer(), 2)
    with cloud.agent(callee, rtp_seconds=2) as b, cloud.agent(caller, rtp_seconds=2) as a:
        assert b.register() == 200
        call = a.call(callee[0])
        assert call["answered"], call
        assert call["answer_media"][0] == str(cloud.host.public_address)
        time.sleep(2.5)
        sent, received = a.figures()["outgoing"][0], b.figures()["incoming"][0]["rtp"]
        assert sent["sent"] >= 90 and received["received"] >= 0.95 * sent["sent"], (sent, received)
        assert received["sent"] >= 90 and sent["received"] >= 0.95 * received["sent"], (received, sent)
        assert {source[0] for source in sent["sources"]} == {str(cloud.host.public_address)}
        assert a.hangup() == 200
        messages = a.seen() + b.seen()
    allowed = {str(cloud.host.public_address), str(cloud.outside.address)}
    shown = {found for message in messages for found in ADDRESS.findall(message) if ip_address(found).version == 4}
    assert shown and shown <= allowed, {a: [m.split("\r\n")[0] for m in messages if a in m][:3]
                                        for a in shown - allowed}


def test_chromium_outside_joins_a_room_through_the_public_addresses(cloud):
    site = Site.load(CLOUD)
    media = MediaLab(CLOUD, site.deployment, site)
    public = str(cloud.host.public_address)
    session = media.webrtc_session(in_network=cloud.outside.command([]))
    for side in ("publisher", "subscriber"):
        state = session[side]
        assert state["connectionState"] == "connected", (side, state)
        pair = state["pair"]
        assert pair["remote"]["address"] == public, (side, pair)
        # The browser's end is its relay on the TURN host. coturn hands relayed packets for its own public
        # address straight to Janus on the same host, so Janus sees (and its STUN answer names) the relay's
        # private address: the browser may list that pair's local end as peer-reflexive, with the relay's port.
        relay_ports = cloud.sip.deployment.turn_relay_ports
        local = pair["local"]
        assert (local["type"] == "relay" and local["address"] == public) or (
            local["type"] == "prflx" and relay_ports.start <= local["port"] <= relay_ports.end), (side, pair)
        browser, janus = _candidates(state["sdp"]["localSdp"]), _candidates(state["sdp"]["remoteSdp"])
        assert browser and all(address == public for address, _ in browser), (side, browser)
        assert janus and all(address == public for address, _ in janus), (side, janus)
    assert session["subscriber"]["video"]["framesDecoded"] >= 60, session["subscriber"]["video"]
