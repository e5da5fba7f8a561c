"""The links service without a database: device detection, the pages' languages, tokens and sealed messages,
CSRF, what logs show of a token, the provider API's guard and the shape of its errors."""

import re
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient

from rtcstack.domain import links as domain
from rtcstack.web import csrf, i18n
from rtcstack.web.app import loggable_path
from rtcstack.web.config import ServiceConfig
from rtcstack.web.links import create_links_app, device_kind
from rtcstack.web.messages import InviteMessages

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
IPAD = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"
ANDROID_PHONE = "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36"
ANDROID_TABLET = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


@pytest.mark.parametrize("agent, kind", [(IPHONE, "phone"), (ANDROID_PHONE, "phone"), (IPAD, "tablet"),
                                         (ANDROID_TABLET, "tablet"), (DESKTOP, "desktop"), ("", "desktop")])
def test_phones_open_the_app_while_tablets_and_desktops_get_the_qr_code(agent, kind):
    assert device_kind(agent) == kind


def test_the_language_is_the_visitors_choice_then_accept_language_then_the_default():
    assert i18n.negotiate("en", "pl") == "en"
    assert i18n.negotiate(None, "de-DE, en;q=0.8, pl;q=0.9") == "pl"
    assert i18n.negotiate(None, "fr, de") == "pl" and i18n.negotiate("xx", None, default="en") == "en"


def test_every_message_of_the_pages_has_a_polish_translation_with_the_same_placeholders():
    from babel.messages.pofile import read_po

    catalog = read_po((i18n.LOCALE_DIR / "pl/LC_MESSAGES/messages.po").open("rb"))
    assert catalog.num_plurals == 3
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"untranslated: {ids[0]!r} (run scripts/catalogs, then translate)"
        wanted = set(re.findall(r"%\(\w+\)[sd]", ids[0]))
        assert all(set(re.findall(r"%\(\w+\)[sd]", s)) == wanted for s in strings), ids[0]


def test_polish_counts_days_in_three_forms():
    t = i18n.translations("pl")
    one, few = "The link works once and expires in %(num)d day.", "The link works once and expires in %(num)d days."
    assert [t.ngettext(one, few, n) % {"num": n} for n in (1, 3, 5)] == [
        "Link działa jeden raz i wygasa za 1 dzień.", "Link działa jeden raz i wygasa za 3 dni.",
        "Link działa jeden raz i wygasa za 5 dni."]


def test_invite_messages_name_the_video_phone_user_and_carry_the_link_in_both_parts():
    compose = InviteMessages("Konnekt", "03 8637 1188")
    when = datetime(2026, 12, 14, 12, 0, tzinfo=timezone.utc)
    mail = compose("email", "pl", "Jane", "Anna Kowalska", "https://edge/i/TOKEN", when)
    assert "Anna Kowalska" in mail["subject"] and "https://edge/i/TOKEN" in mail["text"]
    assert 'href="https://edge/i/TOKEN"' in mail["html"] and "03 8637 1188" in mail["text"]
    sms = compose("sms", "en", "Jane", "Anna <b>", "https://edge/i/TOKEN", when)
    assert "Anna <b>" in sms["text"] and "14 December 2026" in sms["text"]
    assert "Anna &lt;b&gt;" in compose("email", "en", "Jane", "Anna <b>", "https://x", when)["html"]


def test_tokens_have_192_bits_only_their_hash_is_stored_and_logs_show_a_hash_prefix():
    token = domain.new_token()
    assert len(token) == 32 and domain.TOKEN.match(token) and domain.new_token() != token
    assert domain.token_hash(token) != token and len(domain.token_hash(token)) == 64
    assert loggable_path(f"/i/{token}") == f"/i/~{domain.token_hint(token)}"
    assert loggable_path("/api/v1/invites") == "/api/v1/invites"


def test_outbox_messages_are_sealed_with_the_signing_key():
    sealed = domain.seal("key-1", {"text": "https://edge/i/TOKEN"})
    assert "TOKEN" not in sealed and domain.unseal("key-1", sealed) == {"text": "https://edge/i/TOKEN"}
    with pytest.raises(ValueError):
        domain.unseal("key-2", sealed)


@pytest.fixture
def client(tmp_path):
    config = ServiceConfig(service="links", database_url=f"sqlite:///{tmp_path}/db.sqlite", sip_domain="example.test",
                           public_url="https://example.test",
                           options={"signing_key": "signing", "admin_token": "admin-token"})
    return TestClient(create_links_app(config, start_outbox=False), base_url="https://example.test")


def test_the_provider_api_refuses_a_missing_or_wrong_admin_token(client):
    assert client.get("/api/v1/invites").status_code == 401
    answer = client.get("/api/v1/invites", headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"


def test_bad_input_gets_one_line_per_problem_naming_the_field(client):
    answer = client.post("/api/v1/redeem", json={"display_name": "x\x00"})
    assert answer.status_code == 422
    assert sorted(answer.json()["errors"]) == ["display_name: Value error, contains control characters",
                                               "token: Field required"]


def test_a_malformed_link_shows_the_not_found_page_without_asking_the_database(client):
    answer = client.get("/i/not-a-token", headers={"Accept-Language": "pl"})
    assert answer.status_code == 404 and "Ten link jest nieprawidłowy" in answer.text
    assert answer.headers["Cache-Control"] == "no-store" and answer.headers["Content-Language"] == "pl"


def test_the_language_form_needs_its_csrf_token(client):
    page = client.get("/i/not-a-token")
    token = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page.text).group(1)
    assert client.post("/i/not-a-token", data={"language": "en", "csrf_token": "0" * 64},
                       follow_redirects=False).status_code == 403
    chosen = client.post("/i/not-a-token", data={"language": "en", "csrf_token": token}, follow_redirects=False)
    assert chosen.status_code == 303 and chosen.cookies.get("lang") == "en"
    assert "This link is not valid" in client.get("/i/not-a-token").text
    assert csrf.COOKIE in client.cookies
