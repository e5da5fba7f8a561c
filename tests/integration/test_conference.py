"""Conference links in the browser (L5-L7) on every lab, through the edge, with real peers: headless Chromium
pages with fake cameras and microphones in one group call over the TURN relays, an iPhone's chat-only page, an
unsupported browser, a blocked camera and a firewalled TURN host; the operator's CLI and the provider API."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from rtcstack.protocols.janus import VIDEOROOM, JanusHttp
from rtcstack.site.pki import Pki
from rtcstack.runtime.remote import connect
from tests.conftest import LAB_INVENTORIES, rtcstack
from tests.integration.links_lab import LinksLab
from tests.integration.sip_lab import SipLab
from tests.integration.video_phone import VideoPhone

pytestmark = pytest.mark.integration

IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/18.1 Mobile/15E148 Safari/604.1")
EDGE_BROWSER = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
                "Safari/537.36 Edg/131.0.2903.86")
PHONE_VIEWPORT = {"width": 390, "height": 844}
CONFERENCE_LINK = re.compile(r"https://\S+/c/([A-Za-z0-9_-]{32})")
#: Where the README's screenshots come from: RTCSTACK_SCREENSHOTS=docs/screenshots keeps them there.
SCREENSHOTS = os.environ.get("RTCSTACK_SCREENSHOTS")


@pytest.fixture(scope="module", params=LAB_INVENTORIES, ids=lambda p: p.split("/")[-1][:-3])
def links(request, lab_runner) -> LinksLab:
    lab_runner(request.param)
    return LinksLab(request.param)


@pytest.fixture
def conference(links) -> tuple[str, str, str]:
    """A video phone with a fresh conference link: (video phone, its display name, the link's token)."""
    phone, _, _ = links.family(contacts=0)
    out = rtcstack("conference-links", "issue", links.inventory, "--video-phone", phone).stdout
    return phone, f"Anna {phone}", CONFERENCE_LINK.search(out).group(1)


def _shot(tmp_path: Path, name: str) -> str:
    return str(tmp_path / f"{name}.png")


def _keep(path: str, name: str, links: LinksLab) -> None:
    """The six-host lab's screenshots go to RTCSTACK_SCREENSHOTS too (the README shows them)."""
    if SCREENSHOTS and links.inventory == "inventories/lab.py":
        shutil.copy(path, Path(SCREENSHOTS) / f"{name}.png")


def _relay_hosts(links: LinksLab) -> set[str]:
    return {str(h.advertised_address) for h in links.deployment.hosts_with("turn")}


# --- the link -------------------------------------------------------------------------------------------


def test_a_conference_link_is_issued_listed_reissued_and_revoked_and_a_revoked_page_says_so(links, conference):
    phone, display, token = conference
    rows = [json.loads(line) for line in rtcstack("conference-links", "list", links.inventory, "--video-phone", phone,
                                                  "--json").stdout.splitlines()]
    assert [(r["state"], r["link"]) for r in rows] == [("active", f"{links.public_url}/c/{token}")]
    page = links.http("GET", f"/c/{token}", headers={"Accept-Language": "pl"})
    assert page.status == 200 and f"Konferencja z: {display}" in page.text

    # the portal's API: re-issue (the old link stops working at once), list, revoke
    reissued = links.http("POST", f"/api/v1/video-phones/{phone}/conference-link", admin=True)
    assert reissued.status == 201 and reissued.json()["revoked"] == 1
    new_token = reissued.json()["link"].rsplit("/", 1)[1]
    old = links.http("GET", f"/c/{token}", headers={"Accept-Language": "en"})
    assert old.status == 410 and "This conference link has been revoked" in old.text
    assert links.http("POST", f"/api/v1/conference/{token}/join", {"display": "x"}).status == 410
    listed = links.http("GET", f"/api/v1/conference-links?video_phone={phone}", admin=True).json()
    assert [r["state"] for r in listed] == ["active", "revoked"] and listed[1]["link"] is None
    assert links.http("DELETE", f"/api/v1/video-phones/{phone}/conference-link", admin=True).json() == {"revoked": 1}
    assert links.http("GET", f"/c/{new_token}").status == 410
    assert links.http("POST", f"/api/v1/conference/{new_token}/session").status == 410
    assert links.http("GET", f"/c/{'x' * 32}").status == 404
    assert links.http("POST", f"/api/v1/video-phones/{phone}/conference-link").status == 401
    # the edge's log keeps no token
    log = connect(links.site, [links.edge.name])[links.edge.name].run("tail -n 300 /var/log/nginx/access.log")
    assert token not in log and new_token not in log and "/c/~" in log


# --- the group call, the chat, the support matrix -----------------------------------------------------------


def test_three_browsers_on_one_link_see_and_hear_each_other_through_the_relays_and_an_iphone_chats_with_them(
        links, conference, tmp_path):
    _, display, token = conference
    actions = []
    for page in ("anna", "bartek", "celina"):
        actions += [{"open": page, "token": token}, {"checks": page}]
    actions += [{"screenshot": "anna", "path": _shot(tmp_path, "conference-check")}]
    actions += [{"join": page, "display": page.capitalize()} for page in ("anna", "bartek", "celina")]
    actions += [{"open": "iza", "token": token, "user_agent": IPHONE, "touch": True, "viewport": PHONE_VIEWPORT},
                {"join_chat": "iza", "display": "Iza"}, {"sleep": 8},
                {"stats": "anna"}, {"stats": "bartek"}, {"stats": "celina"},
                {"say": "iza", "text": "Cześć z iPhone'a"}, {"say": "bartek", "text": "Hello from Bartek"}, {"sleep": 2},
                {"messages": "anna"}, {"messages": "iza"},
                {"screenshot": "anna", "path": _shot(tmp_path, "conference-call"), "full_page": True},
                {"screenshot": "iza", "path": _shot(tmp_path, "conference-chat-only-iphone")}]
    result = links.conference_browser(actions)
    checks = result[1:6:2]
    for check in checks:
        assert {name: r["state"] for name, r in check["results"].items()} == {
            "camera": "ok", "microphone": "ok", "turn-udp": "ok", "turn-tcp": "ok", "turn-tls": "ok", "sfu": "ok"}
        assert check["stored"] is True
    joins = result[7:10]
    assert all(j["joined"] for j in joins), joins
    opened_iphone, joined_iphone = result[10:12]
    assert opened_iphone["mode"] == "chat" and joined_iphone["joined"], result[10:12]
    relays = _relay_hosts(links)
    for name, stats in zip(("anna", "bartek", "celina"), result[13:16], strict=True):
        by_role = {}
        for pc in stats:
            by_role.setdefault(pc["role"], []).append(pc)
            assert pc["state"] == "connected", (name, pc)
            assert pc["pair"]["local"]["type"] == "relay" and pc["pair"]["local"]["address"] in relays, (name, pc)
        # video from each of the two others, H.264 (the room's codec, what SIP video phones speak)
        decoding = [pc for pc in by_role["subscriber"] if pc["framesDecoded"] > 30]
        assert len(decoding) >= 2, (name, by_role["subscriber"])
        assert all(pc["videoCodec"] == "video/H264" for pc in decoding)
        assert by_role["publisher"][0]["framesEncoded"] > 30
        # the others' audio, mixed by the audio bridge: Chromium's fake microphone beeps
        assert by_role["audio"][0]["audioPacketsReceived"] > 100 and by_role["audio"][0]["audioEnergy"] > 0, name
    anna_hears, iza_hears = result[19], result[20]
    assert {"who": "Iza", "text": "Cześć z iPhone'a", "kind": "message", "mine": False} in anna_hears
    assert {"who": "Bartek", "text": "Hello from Bartek", "kind": "message", "mine": False} in iza_hears
    for name in ("conference-check", "conference-call", "conference-chat-only-iphone"):
        _keep(_shot(tmp_path, name), name, links)


@pytest.fixture
def sip(links, tmp_path) -> SipLab:
    return SipLab(links.inventory, tmp_path)


def test_a_page_calls_the_video_phone_into_the_conference_and_everyone_sees_and_hears_it(links, sip, tmp_path):
    """Three pages on the link, one presses "Call the video phone": the phone (a SIP agent sending a tone and
    ffmpeg's H.264) rings with the conference's name through Kamailio and rtpengine and answers. Every page
    decodes the two others' video and the phone's, all over relay pairs on the TURN host; with every page muted,
    their audio bridges still bring energy: the phone's tone. Unmuted, the pages are heard by the phone, which
    also decodes a page's video; keyframe requests (RTCP PLI) pass both ways. The call holds one of the customer's channels; once the pages have left, the
    gateway hangs up by itself, and the call is a CDR."""
    video_phone, password, _ = links.family(contacts=0)
    out = rtcstack("conference-links", "issue", links.inventory, "--video-phone", video_phone).stdout
    token = CONFERENCE_LINK.search(out).group(1)
    pages = ("anna", "bartek", "celina")
    phone = VideoPhone(sip.agent((video_phone, password)))
    try:
        assert phone.agent.register().status == 200
        answered = "window.conference.phone && window.conference.phone.state === 'answered'"
        actions = [a for page in pages for a in ({"open": page, "token": token}, {"checks": page})]
        actions += [{"join": page, "display": page.capitalize()} for page in pages]
        actions += [{"click": page, "selector": "#toggle-mic"} for page in pages]  # 9-11: everyone muted
        actions += [{"click": "anna", "selector": "#call-phone"},
                    {"wait_for": "anna", "js": answered, "timeout": 60},
                    *[{"wait_for": page, "js": answered, "timeout": 30} for page in pages[1:]],
                    {"sleep": 8}, *[{"stats": page} for page in pages],  # 17-19
                    {"sleep": 5}, *[{"stats": page} for page in pages],  # 21-23
                    *[{"click": page, "selector": "#toggle-mic"} for page in pages],  # unmuted again
                    {"sleep": 8},
                    {"screenshot": "anna", "path": _shot(tmp_path, "conference-video-phone"), "full_page": True},
                    {"wait_for": "anna", "js": "JSON.stringify(window.conference.phone)"}]  # 29
        profile = sip.sql(f"SELECT profile_id FROM sip_accounts WHERE username = '{video_phone}'")[0][0]
        # the channel limit counts per SIP profile (Kamailio's dialog profile "sip_profile"), read while the pages run
        channels_in_use, browsing = [], threading.Event()

        def count_channels() -> None:
            while not browsing.wait(2):
                channels_in_use.append(int(sip.on_registrar(f"kamcmd dlg.profile_get_size sip_profile {profile}")))

        counter = threading.Thread(target=count_channels, daemon=True)
        counter.start()
        try:
            result = links.conference_browser(actions)
        finally:
            browsing.set()
            counter.join(timeout=10)
        assert all(r is True for r in result[13:16]), result[:16]
        phone_heard, phone_saw = phone.audio_energy(), phone.video_frames()
        invite = phone.invites[0]
        assert '"Conference"' in invite.get("from") and invite.get("from").split("<sip:")[1].startswith("conf-")
        relays = _relay_hosts(links)
        for name, before, after in zip(pages, result[17:20], result[21:24], strict=True):
            for pc in after:
                assert pc["state"] == "connected", (name, pc)
                assert pc["pair"]["local"]["type"] == "relay" and pc["pair"]["local"]["address"] in relays, (name, pc)
            from_phone = [pc for pc in after if pc["role"] == "phone"]
            assert from_phone and from_phone[0]["framesDecoded"] > 30, (name, from_phone)
            assert from_phone[0]["videoCodec"] == "video/H264"
            assert len([pc for pc in after if pc["role"] == "subscriber" and pc["framesDecoded"] > 30]) >= 2, name
            # muted pages: what the audio bridge brings in these 5 s is the phone's tone
            audio_before = [pc for pc in before if pc["role"] == "audio"][0]
            audio_after = [pc for pc in after if pc["role"] == "audio"][0]
            assert audio_after["audioEnergy"] - audio_before["audioEnergy"] > 0.01, (name, audio_before, audio_after)
        assert phone_heard > 100, phone_heard  # the pages' fake microphones, mixed
        assert phone_saw > 30, phone_saw
        assert json.loads(result[29])["video_from"], result[29]
        # keyframe requests travel both ways: the phone's PLIs (every 0.5 s) reach the page it sees (Anna's,
        # she called) through the forwarder; Janus asks the phone for keyframes when pages start watching it
        plis = {name: sum(pc.get("pliCount") or 0 for pc in after if pc["role"] == "publisher")
                for name, after in zip(pages, result[21:24], strict=True)}
        assert plis["anna"] >= plis["bartek"] + 5 and phone.plis_sent > 10, (plis, phone.plis_sent)
        assert phone.plis_received >= 1, phone.plis_received
        assert max(channels_in_use) == 1, channels_in_use
        # the pages have closed: with nobody left in the conference the gateway hangs up by itself
        deadline, state = time.monotonic() + 20, {}
        while time.monotonic() < deadline and state.get("state") != "ended":
            time.sleep(1)
            state = json.loads(links.http("GET", f"/api/v1/conference/{token}/call").body)
        assert state == {"state": "ended", "reason": "everyone left the conference", "mountpoint": None,
                         "video_from": state.get("video_from")}, state
        assert phone.agent.incoming[0].ended.wait(5)  # the phone got the gateway's BYE
    finally:
        hung_up = links.http("DELETE", f"/api/v1/conference/{token}/call")
        phone.close()
    assert hung_up.status == 200 and json.loads(hung_up.body)["state"] == "ended", hung_up.body
    call_id = phone.invites[0].call_id
    deadline, rows = time.monotonic() + 10, []
    while time.monotonic() < deadline and not rows:
        rows = sip.sql(f"SELECT sip_code, callee, answer_time IS NOT NULL FROM cdrs WHERE call_id = '{call_id}'")
        time.sleep(0.5)
    assert rows and rows[0] == ["200", video_phone, "t"], rows
    _keep(_shot(tmp_path, "conference-video-phone"), "conference-video-phone", links)


def test_an_unsupported_browser_gets_a_message_naming_the_supported_ones(links, conference, tmp_path):
    _, _, token = conference
    shot = _shot(tmp_path, "conference-unsupported")
    opened, shown, _ = links.conference_browser([
        {"open": "edge", "token": token, "user_agent": EDGE_BROWSER, "locale": "pl-PL"},
        {"wait_for": "edge", "js": "document.querySelector('#unsupported').innerText"},
        {"screenshot": "edge", "path": shot}])
    assert opened["status"] == 200 and opened["mode"] == "unsupported"
    assert "Google Chrome lub Mozilla Firefox" in shown and "Edge" in shown
    _keep(shot, "conference-unsupported", links)


# --- the pre-call check (L7) ---------------------------------------------------------------------------------


@contextmanager
def turn_blocked(links: LinksLab):
    """Drop TURN's ports on every TURN host for everything but the lab's own hosts (this machine's browser is
    not one of them), in a table of its own that goes away afterwards."""
    d = links.deployment
    lab = ", ".join(sorted({str(h.private_address) for h in d.hosts.values()}))
    t = d.turn
    rule = (f"nft -f - <<'EOF'\ntable inet rtcstack_test {{\n chain input {{\n  type filter hook input priority -10;\n"
            f"  ip saddr != {{ {lab} }} udp dport {t.listening_port} drop\n"
            f"  ip saddr != {{ {lab} }} tcp dport {{ {t.listening_port}, {t.tls_listening_port} }} drop\n }}\n}}\nEOF")
    hosts = d.hosts_with("turn")
    remote = connect(links.site, [h.name for h in hosts])
    try:
        for host in hosts:
            remote[host.name].run(rule)
        yield
    finally:
        for host in hosts:
            remote[host.name].run("nft delete table inet rtcstack_test 2>/dev/null || true")


def test_a_blocked_camera_is_red_the_microphone_green_and_a_firewalled_turn_host_turns_the_relay_checks_red(
        links, conference, tmp_path):
    phone, _, token = conference
    result = links.conference_browser([
        {"open": "denied", "token": token, "permissions": ["microphone"]},
        {"checks": "denied"},
        {"copy_report": "denied"}])
    checks, report = result[1], result[2]
    states = {name: r["state"] for name, r in checks["results"].items()}
    assert states["camera"] == "fail" and states["microphone"] == "ok", states
    assert "Allow the camera" in checks["results"]["camera"]["advice"]
    assert states["sfu"] == "ok" and "Camera: FAILED" in report and "Microphone: OK" in report

    with turn_blocked(links):
        shot = _shot(tmp_path, "conference-check-failing")
        result = links.conference_browser([
            {"open": "walled", "token": token, "locale": "pl-PL"}, {"checks": "walled"}, {"copy_report": "walled"},
            {"screenshot": "walled", "path": shot}])
    checks, report = result[1], result[2]
    states = {name: r["state"] for name, r in checks["results"].items()}
    assert states == {"camera": "ok", "microphone": "ok", "turn-udp": "fail", "turn-tcp": "fail",
                      "turn-tls": "fail", "sfu": "fail"}, states
    assert "zapora sieciowa" in checks["results"]["turn-udp"]["advice"]
    assert f"portu UDP {links.deployment.turn.listening_port}" in checks["results"]["turn-udp"]["advice"]
    for line in ("TURN over UDP: FAILED", "TURN over TCP: FAILED", "TURN over TLS: FAILED",
                 "Conference server (echo): FAILED", "Camera: OK"):
        assert line in report, report
    _keep(shot, "conference-check-failing", links)

    # support reads the stored reports
    latest = [json.loads(line) for line in rtcstack("diagnostics", "list", links.inventory, "--video-phone", phone,
                                                    "--limit", "2", "--json").stdout.splitlines()]
    assert [r["ok"] for r in latest] == [False, False]
    assert "turn-udp=fail" in latest[0]["summary"] and "camera=fail" in latest[1]["summary"]
    assert latest[0]["report"] == report
    text = rtcstack("diagnostics", "list", links.inventory, "--video-phone", phone, "--limit", "1").stdout
    assert "FAILED" in text and phone in text


# --- revoking ends the conference ------------------------------------------------------------------------------


@pytest.mark.slow  # waits out an idle timer by design: not in the default run (README, Tests)
def test_a_room_lasts_while_someone_is_in_it_and_revoking_a_link_ends_its_conference(links, conference):
    phone, _, token = conference
    d = links.deployment
    janus = JanusHttp(f"https://{links.edge.advertised_address}{d.edge.janus_path}",
                      api_secret=d.secret("janus_api_secret"),
                      cafile=str(Pki.for_inventory(links.inventory).directory / "ca.crt"))
    janus.create()
    handle = janus.attach(VIDEOROOM)

    def exists(number: int) -> bool:
        return janus.message(handle, {"request": "exists", "room": number})["plugindata"]["data"]["exists"]

    def gone_within(number: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while exists(number) and time.monotonic() < deadline:
            janus.keepalive()
            time.sleep(3)
        return not exists(number)

    # two links' rooms: one will be revoked with someone in it, the other is left empty
    joined = links.http("POST", f"/api/v1/conference/{token}/join", {"display": "Tester"}).json()
    room = joined["room"]
    janus.message(janus.attach(VIDEOROOM), {"request": "join", "ptype": "publisher", "room": room,
                                            "display": "Tester", "pin": joined["pin"]})
    other_phone, _, _ = links.family(contacts=0)
    other_token = CONFERENCE_LINK.search(rtcstack("conference-links", "issue", links.inventory, "--video-phone",
                                                  other_phone).stdout).group(1)
    empty_room = links.http("POST", f"/api/v1/conference/{other_token}/join", {"display": "Nobody"}).json()["room"]
    # a room that is not a conference's (a load test's, say), empty all along: the sweeper leaves it alone
    foreign = room + 500_000_000
    janus.message(handle, {"request": "create", "room": foreign, "admin_key": d.secret("janus_room_key"),
                           "description": "rtcstack load"})
    assert exists(room) and exists(empty_room) and exists(foreign)

    rtcstack("conference-links", "revoke", links.inventory, "--video-phone", phone)
    assert links.http("POST", f"/api/v1/conference/{token}/join", {"display": "Late"}).status == 410
    assert gone_within(room, 75), "the revoked link's room still exists with its participant in it"
    # the empty room goes once its last join is a minute old (the sweeper runs every 30 s)
    assert gone_within(empty_room, 110), "an empty conference room was not swept"
    assert exists(foreign), "the sweeper destroyed a room that is not a conference's"
    janus.message(handle, {"request": "destroy", "room": foreign})
    janus.destroy()
