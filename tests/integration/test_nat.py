"""Clients behind NAT (R4 "NAT-safe", M2): registration, calls, keepalives, SIP over TCP and WebRTC from the
lab's client networks, a port-restricted cone NAT (`home`) and a symmetric one (`mobile`), each forgetting
a UDP mapping after 30 s. The clients run inside the client networks (tests/integration/nat_lab.py); the
other party of a call is rtcstack's SIP agent on this machine, on the lab network."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass

import pytest

from rtcstack.domain.status import parse_kamcmd
from rtcstack.lab import Lab
from rtcstack.lab_nat import NatClient, NatNetworks, in_namespace
from rtcstack.site import Site
from tests.conftest import rtcstack
from tests.integration.media_lab import MediaLab
from tests.integration.nat_lab import NatAgent
from tests.integration.sip_lab import SipLab
from tests.integration.test_registrar_sipp import auth, outcome, run_sipp

LAB = "inventories/lab.py"

pytestmark = [pytest.mark.integration, pytest.mark.brings_up(LAB)]


@dataclass
class NatLab:
    sip: SipLab
    networks: NatNetworks

    def client(self, name: str) -> NatClient:
        return self.networks.get(name)

    def agent(self, client: NatClient, account: tuple[str, str], **options) -> NatAgent:
        return NatAgent(client, str(self.sip.registrar.private_address), self.sip.sip_port, self.sip.domain, account,
                        **options)

    def contact(self, username: str) -> dict[str, str]:
        found = parse_kamcmd(self.sip.on_registrar(f"kamcmd ul.lookup location {username}@{self.sip.domain} || true"),
                             "Contact")
        assert found, f"{username} is not registered"
        return found[0]


@pytest.fixture(scope="module")
def nat(lab_runner, tmp_path_factory) -> NatLab:
    lab_runner(LAB)
    sip = SipLab(LAB, tmp_path_factory.mktemp("nat"))
    assert sip.deployment.lab.client_networks, "inventories/lab.py has no lab.client_networks"
    site = sip.site
    return NatLab(sip, NatNetworks(Lab(site.deployment, site.name, key_dir=site.path.parent)))


def _both_ways(sender: dict, receiver: dict) -> bool:
    """Two seconds of 20 ms packets sent, and 95 % of them arrived."""
    return sender["sent"] >= 90 and receiver["received"] >= 0.95 * sender["sent"]


def _figures(stream) -> dict:
    return {"sent": stream.sent, "received": stream.received}


def test_the_routers_nat_as_configured(nat):
    """The cone router keeps a client's port for every destination, the symmetric one does not, and both
    forget a UDP mapping after 30 s: the conditions the other tests rely on."""
    for client in (nat.client("home"), nat.client("mobile")):
        router = nat.networks.client.containers.get(nat.networks.container_name(client.network, "router"))
        timeout = subprocess.run(in_namespace(router.attrs["State"]["Pid"],
                                              ["sysctl", "-n", "net.netfilter.nf_conntrack_udp_timeout_stream"]),
                                 capture_output=True, text=True, check=True).stdout.strip()
        assert timeout == "30"
    account, = nat.sip.accounts(nat.sip.customer(), 1)
    with nat.agent(nat.client("home"), account) as home:
        assert home.register() == 200
        assert nat.contact(account[0])["Received"] == f"sip:{nat.client('home').public_address}:{home.port}"
    with nat.agent(nat.client("mobile"), account) as mobile:
        assert mobile.register() == 200
        received = nat.contact(account[0])["Received"]
        assert received.startswith(f"sip:{nat.client('mobile').public_address}:")
        assert received != f"sip:{nat.client('mobile').public_address}:{mobile.port}", "symmetric NAT kept the port"


def test_a_client_behind_nat_registers_with_the_nat_address_and_an_incoming_call_reaches_it(nat):
    sip, home = nat.sip, nat.client("home")
    callee, caller = sip.accounts(sip.customer(), 2)
    with nat.agent(home, callee) as phone:
        assert phone.address == str(home.address)
        assert phone.register() == 200
        contact = nat.contact(callee[0])
        assert f"@{home.address}:" in contact["Address"]  # what the phone wrote
        assert contact["Received"] == f"sip:{home.public_address}:{phone.port}"  # where it is reached
        with sip.agent(caller) as desk:
            call = desk.call(callee[0])
            assert call.answered, (call.status, call.reason)
            assert call.hangup().status == 200
        assert phone.figures()["incoming"][0]["answered"]


def test_a_call_between_a_nat_client_and_a_lab_client_carries_rtp_both_ways(nat):
    sip, home = nat.sip, nat.client("home")
    callee, caller = sip.accounts(sip.customer(), 2)
    with nat.agent(home, callee, rtp_seconds=2) as phone, sip.agent(caller, rtp_seconds=2) as desk:
        assert phone.register() == 200
        call = desk.call(callee[0])
        assert call.answered, (call.status, call.reason)
        time.sleep(2.5)
        incoming = phone.figures()["incoming"][0]
        # The phone's SDP carried its private address; rtpengine anchored both sides and learned where the
        # phone's media really comes from (the router).
        assert incoming["offer_media"][0] in sip.media_addresses
        assert {source[0] for source in incoming["rtp"]["sources"]} <= sip.media_addresses
        assert _both_ways(_figures(call.rtp), incoming["rtp"]), (call.rtp.sent, incoming["rtp"])
        assert _both_ways(incoming["rtp"], _figures(call.rtp)), (incoming["rtp"], call.rtp.received)
        assert call.hangup().status == 200


def test_a_call_between_clients_behind_a_cone_and_a_symmetric_nat_carries_rtp_both_ways(nat):
    sip = nat.sip
    callee, caller = sip.accounts(sip.customer(), 2)
    with nat.agent(nat.client("mobile"), callee, rtp_seconds=2) as mobile, \
            nat.agent(nat.client("home"), caller, rtp_seconds=2) as home:
        assert mobile.register() == 200
        call = home.call(callee[0])
        assert call["answered"], call
        assert call["answer_media"][0] in sip.media_addresses
        time.sleep(2.5)
        sent = home.figures()["outgoing"][0]
        received = mobile.figures()["incoming"][0]["rtp"]
        assert _both_ways(sent, received), (sent, received)
        assert _both_ways(received, sent), (received, sent)
        assert home.hangup() == 200


@pytest.mark.slow  # waits out an idle timer by design: not in the default run (README, Tests)
def test_a_call_from_behind_nat_is_kept_alive_through_the_nat_mapping(nat):
    """registrar.call_keepalive_seconds reaches a phone behind NAT: the dialog module asks it at the address its
    Contact was rewritten to (the router's mapping, not the private address it gave), so the phone answers and its
    call stays up past a round of keepalives (30 s here, requests timing out after 2 s, the call ended 10 s after a
    failure)."""
    sip, home = nat.sip, nat.client("home")
    caller, callee = sip.accounts(sip.customer(), 2)
    with sip.kamailio_with(dialog__ka_timer=1, dialog__ka_interval=30, tm__fr_timer=2000):
        with nat.agent(home, caller) as phone, sip.agent(callee) as desk:
            assert phone.register() == 200  # (the registrar's own keepalives hold the NAT mapping)
            assert desk.register().status == 200
            call = phone.call(callee[0])
            assert call["answered"], call
            time.sleep(50)  # (ended at about 43 s, had the phone's keepalives gone unanswered)
            assert not desk.incoming[-1].ended.is_set(), "the call of a phone behind NAT was ended"
            in_dialog = [m for m in phone.seen() if m.startswith("OPTIONS ") and "keepalive@" not in m]
            assert in_dialog, "no call keepalive reached the phone behind NAT"
            assert phone.hangup() == 200


@pytest.mark.slow  # waits out an idle timer by design: not in the default run (README, Tests)
def test_keepalives_hold_the_nat_binding_for_an_incoming_call_after_two_idle_minutes(nat):
    """The router forgets a UDP mapping after 30 s; the registrar's keepalives (every
    registrar.keepalive_interval_seconds) keep it, so a call after 2 minutes still arrives and the lamp
    stays green."""
    sip, home = nat.sip, nat.client("home")
    customer = sip.customer()
    callee, caller = sip.accounts(customer, 2)
    assert sip.deployment.registrar.keepalive_interval_seconds < home.network.udp_timeout_seconds
    with nat.agent(home, callee) as phone:
        assert phone.register(expires=600) == 200
        time.sleep(120)
        assert phone.figures()["options_received"] >= 120 // sip.deployment.registrar.keepalive_interval_seconds - 2
        lamps = rtcstack("accounts", "status", sip.inventory, "--customer", customer).stdout
        assert {line.split()[0]: line.split()[2] for line in lamps.splitlines()[2:]}[callee[0]] == "green", lamps
        with sip.agent(caller) as desk:
            call = desk.call(callee[0])
            assert call.answered, (call.status, call.reason)
            call.hangup()


def test_a_client_registered_over_tcp_behind_nat_gets_calls_over_that_connection(nat):
    sip, home = nat.sip, nat.client("home")
    callee, caller = sip.accounts(sip.customer(), 2)
    with nat.agent(home, callee, transport="tcp") as phone:
        assert phone.register() == 200
        assert nat.contact(callee[0])["Received"].startswith(f"sip:{home.public_address}:")
        with sip.agent(caller) as desk:
            call = desk.call(callee[0])
            assert call.answered, (call.status, call.reason)
            call.hangup()
        incoming = phone.figures()["incoming"]
        assert incoming and incoming[0]["via"].startswith("SIP/2.0/TCP"), incoming


def test_chromium_behind_a_symmetric_nat_joins_a_room_relayed_through_turn(nat):
    site = Site.load(LAB)
    media = MediaLab(LAB, site.deployment, site)
    mobile = nat.client("mobile")
    session = media.webrtc_session(in_network=mobile.command([]))
    for side in ("publisher", "subscriber"):
        state = session[side]
        assert state["connectionState"] == "connected", (side, state)
        pair = state["pair"]
        assert pair["state"] == "succeeded" and pair["local"]["type"] == "relay", (side, pair)
        assert pair["local"]["address"] == str(media.turn.advertised_address), (side, pair)
    assert session["subscriber"]["video"]["framesDecoded"] >= 60, session["subscriber"]["video"]


def test_svcrack_from_behind_a_nat_is_banned_before_it_reaches_the_right_password(nat, tmp_path):
    """Debian's sipvicious `svcrack`, run from the home network (the lab's own address is flood-exempt, and
    svcrack ignores its bind option): 200 wrong passwords, then the right one. The NAT's address is banned
    within registrar.auth_failures_before_ban failures and svcrack never finds the password."""
    import shutil

    assert shutil.which("svcrack"), "Debian's sipvicious is missing: run scripts/bootstrap"
    sip, home = nat.sip, nat.client("home")
    account, = sip.accounts(sip.customer(), 1)
    dictionary = tmp_path / "guesses.txt"
    dictionary.write_text("".join(f"guess{n:05d}pw\n" for n in range(200)) + account[1] + "\n")
    try:
        result = subprocess.run(home.command(
            ["svcrack", "-u", account[0], "-d", str(dictionary), "--domain", sip.domain, "-p", str(sip.sip_port),
             "--maximumtime", "10", str(sip.registrar.private_address)]),
            capture_output=True, text=True, timeout=300)
        output = result.stdout + result.stderr
        assert account[1] not in output, output[-2000:]
        listed = rtcstack("ip-bans", "list", sip.inventory, str(home.public_address)).stdout
        assert "blocked on" in listed, listed
        logged = f"authentication of '{account[0]}' from .* failed"
        failures = sip.on_registrar(f'journalctl -u kamailio --since -5min | grep -c "{logged}" || true').strip()
        assert failures and int(failures) <= sip.deployment.registrar.auth_failures_before_ban, (failures, output[-1500:])
    finally:
        rtcstack("ip-bans", "unblock", sip.inventory, str(home.public_address))


def test_sipp_registers_from_behind_the_symmetric_nat(nat):
    """sipp, the reference SIP tool, from the mobile network: 50 accounts register with digest auth."""
    sip = nat.sip
    accounts = sip.accounts(sip.customer(), 50)
    report = run_sipp(sip, "register", [f"{u};{auth(u, p)};{sip.domain}" for u, p in accounts],
                      "-r", "20", "-m", str(len(accounts)), "-l", "50", network=nat.client("mobile"))
    assert outcome(report) == (len(accounts), 0), report[-2000:]


def test_sipp_calls_from_behind_one_nat_reach_a_phone_behind_another_with_rtp(nat):
    """sipp calls (with its G.711 recording) from the mobile network to a phone in the home network."""
    sip = nat.sip
    caller, callee = sip.accounts(sip.customer(channels=10), 2)
    calls = 3
    with nat.agent(nat.client("home"), callee, rtp_seconds=3) as phone:
        assert phone.register() == 200
        report = run_sipp(sip, "call", [f"{caller[0]};{auth(*caller)};{sip.domain};{callee[0]}"] * calls,
                          "-r", "1", "-m", str(calls), "-l", str(calls), "-d", "3000", "-mp", "16000",
                          network=nat.client("mobile"))
        assert outcome(report) == (calls, 0), report[-2000:]
        time.sleep(0.5)
        answered = [c for c in phone.figures()["incoming"] if c["answered"]]
    assert len(answered) == calls
    for incoming in answered:
        assert incoming["rtp"]["received"] >= 50, incoming["rtp"]  # sipp's pcap, from behind the other NAT
        assert {source[0] for source in incoming["rtp"]["sources"]} <= sip.media_addresses


def test_baresip_behind_nat_registers_and_answers_a_call_with_audio(nat, tmp_path):
    """Debian's baresip, a softphone, in the home network: it registers through the NAT, answers a call from
    the lab by itself and sends its sine tone, which arrives through rtpengine."""
    import shutil

    assert shutil.which("baresip"), "Debian's baresip is missing: run scripts/bootstrap"
    sip, home = nat.sip, nat.client("home")
    phone_account, caller = sip.accounts(sip.customer(), 2)
    registrar = f"{sip.registrar.private_address}:{sip.sip_port}"
    (tmp_path / "config").write_text(
        f"sip_listen\t\t{home.address}:5080\nmodule_path\t\t/usr/lib/baresip/modules\n"
        "module\t\t\tg711.so\nmodule\t\t\tausine.so\nmodule\t\t\taufile.so\nmodule_app\t\taccount.so\n"
        "audio_source\t\tausine,440\naudio_player\t\taufile,/dev/null\naudio_alert\t\taufile,/dev/null\n"
        "ausrc_srate\t\t48000\nauplay_srate\t\t48000\nausrc_channels\t\t2\nauplay_channels\t\t1\n"
        "rtp_stats\t\tyes\nnet_interface\t\teth0\n")
    (tmp_path / "accounts").write_text(
        f"<sip:{phone_account[0]}@{sip.domain}>;auth_pass={phone_account[1]};outbound=\"sip:{registrar}\";"
        "answermode=auto;regint=300;audio_codecs=PCMU\n")
    baresip = subprocess.Popen(home.command(["baresip", "-f", str(tmp_path), "-t", "40"]), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 15
        contact = {}
        while time.monotonic() < deadline and not contact:
            time.sleep(0.5)
            found = parse_kamcmd(sip.on_registrar(
                f"kamcmd ul.lookup location {phone_account[0]}@{sip.domain} || true"), "Contact")
            contact = found[0] if found else {}
        assert contact, "baresip did not register"
        assert "baresip" in contact.get("User-Agent", ""), contact
        assert contact["Received"] == f"sip:{home.public_address}:5080", contact
        with sip.agent(caller, rtp_seconds=3) as desk:
            call = desk.call(phone_account[0])
            if not call.answered:
                baresip.terminate()
                raise AssertionError(f"{call.status} {call.reason}: " + baresip.communicate(timeout=10)[0][-3000:])
            time.sleep(3.5)
            assert call.rtp.received >= 100, call.rtp.received  # baresip's sine, 20 ms packets
            assert {source[0] for source in call.rtp.sources} <= sip.media_addresses
            assert call.hangup().status == 200
    finally:
        baresip.terminate()
        output = baresip.communicate(timeout=10)[0]
    assert "answer" in output.lower() or "established" in output.lower(), output[-2000:]

