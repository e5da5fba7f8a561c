"""The conference page's template in each mode and language, its script's texts, and the rooms' settings."""

import json
import re

import pytest

from rtcstack.domain.conference import account_password, room_number, room_pin
from rtcstack.web import i18n
from rtcstack.web.conference import SUPPORTED
from rtcstack.web.rooms import Rooms


def render(mode: str, language: str) -> str:
    return i18n.render("conference.html", language, service="rtcstack", support="support@example.org",
                       static="/i/static", form_action="/c/x", csrf_token="t", mode=mode, browser="Chrome",
                       os="Linux", video_phone="Babcia Ela", supported=SUPPORTED,
                       config={"mode": mode, "api": "/api/v1/conference/x", "janus_path": "/janus",
                               "browser": "Chrome", "os": "Linux", "language": language})


def section_hidden(html: str, section: str) -> bool:
    tag = re.search(rf'<section id="{section}"[^>]*>', html).group(0)
    return " hidden" in tag


@pytest.mark.parametrize("language", ["pl", "en"])
@pytest.mark.parametrize("mode", ["full", "chat", "unsupported"])
def test_each_mode_shows_its_own_sections(mode, language):
    html = render(mode, language)
    assert section_hidden(html, "check") is (mode != "full")
    assert section_hidden(html, "chat-only") is (mode != "chat")
    assert section_hidden(html, "unsupported") is (mode != "unsupported")
    assert section_hidden(html, "chat") is (mode != "chat")  # the call shows it once joined
    assert "Google Chrome " in html and " Mozilla Firefox" in html
    config = json.loads(re.search(r'id="conference-config">(.*?)</script>', html, re.S).group(1))
    assert config["mode"] == mode and config["language"] == language


@pytest.mark.parametrize("language", ["pl", "en"])
def test_the_scripts_texts_keep_their_placeholders_in_both_languages(language):
    texts = json.loads(re.search(r'id="conference-text">(.*?)</script>', render("full", language), re.S).group(1))
    assert "%(what)s" in texts["turn_failed"] and "%(reason)s" in texts["join_failed"]
    assert "%(name)s" in texts["chat_joined"] and "%(name)s" in texts["chat_left"]
    if language == "pl":
        assert texts["denied"] == "dostęp zablokowany" and texts["copy_failed"].startswith("Zaznacz")


def test_rooms_pin_h264_for_the_video_phone_and_take_plain_rtp_in_the_audio_bridge():
    rooms = Rooms(("http://sfu1:8088/janus",), "secret", "room-key", publishers=12)
    bodies = rooms.create_bodies(room_number(7), "pin", "conference 1000007")
    video, audio, text = bodies["videoroom"], bodies["audiobridge"], bodies["textroom"]
    assert (video["videocodec"], video["h264_profile"], video["publishers"]) == ("h264", "42e01f", 12)
    assert audio["allow_rtp_participants"] is True
    assert all(b["room"] == 1_000_007 and b["pin"] == "pin" and b["admin_key"] == "room-key" and not b["permanent"]
               for b in (video, audio, text))


def test_room_pins_and_account_passwords_derive_from_the_signing_key():
    assert room_pin("k1", 1_000_001) != room_pin("k2", 1_000_001) != room_pin("k1", 1_000_002)
    assert len(room_pin("k", 1)) == 24 and len(account_password("k", "conf-1")) == 32
    assert account_password("k", "conf-1") == account_password("k", "conf-1") != account_password("k", "conf-2")


def test_a_report_keeps_its_lines_but_refuses_nul_and_lone_surrogates(tmp_path):
    from fastapi.testclient import TestClient

    from rtcstack.web.config import ServiceConfig
    from rtcstack.web.links import create_links_app

    config = ServiceConfig(service="links", database_url=f"sqlite:///{tmp_path}/db.sqlite", sip_domain="example.test",
                           public_url="https://example.test",
                           options={"signing_key": "signing", "admin_token": "admin-token"})
    client = TestClient(create_links_app(config, start_outbox=False), base_url="https://example.test")
    path = f"/api/v1/conference/{'x' * 32}/diagnostics"
    for bad in ("a\x00b", "a\ud800b", "a\x1bb"):
        answer = client.post(path, content=json.dumps({"ok": True, "summary": "s", "report": bad}),
                             headers={"Content-Type": "application/json"})  # escaped: a lone surrogate travels
        assert answer.status_code == 422 and answer.json()["errors"][0].startswith("report: "), bad
    assert client.post(path, content=b"{not json", headers={"Content-Type": "application/json"}).status_code in (400, 422)
    schema = client.get("/api/v1/openapi.json").json()["paths"]
    assert {"400", "404", "410", "422"} <= set(schema[path.replace("x" * 32, "{token}")]["post"]["responses"])


def test_one_worker_per_host_sweeps_and_another_takes_over_when_it_stops(tmp_path):
    """Workers of one host share the sweeper lock file: the first that takes it sweeps every round, the others
    skip theirs; once it stops, the next round of another worker sweeps."""
    from rtcstack.web.rooms import Sweeper

    class Counting:
        def __init__(self):
            self.sweeps = 0

        def sweep(self, protected, doomed):
            self.sweeps += 1
            return []

    lock = str(tmp_path / "sweeper.lock")
    first_rooms, second_rooms = Counting(), Counting()
    first = Sweeper(first_rooms, lambda: ((), ()), lock_path=lock)
    second = Sweeper(second_rooms, lambda: ((), ()), lock_path=lock)
    assert first.sweep_if_first() == [] and second.sweep_if_first() is None
    assert first.sweep_if_first() == [] and second.sweep_if_first() is None
    first.stop()
    assert second.sweep_if_first() == []
    assert (first_rooms.sweeps, second_rooms.sweeps) == (2, 1)
    second.stop()
