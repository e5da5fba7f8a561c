"""The links service (L1-L4) on every lab, through the edge, with real peers: Chromium as a desktop, an iPad
and an Android phone; the lab's Postfix mailbox and SMS sink; rtcstack's SIP client registering with what redeem
returned and calling through Kamailio and rtpengine; the schemathesis CLI against the OpenAPI description."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rtcstack.protocols.sip.agent import UserAgent
from rtcstack.web.app import SECURITY_HEADERS
from tests.conftest import LAB_INVENTORIES, rtcstack
from tests.integration import mail_lab
from tests.integration import until as _until
from tests.integration.links_lab import LinksLab, zbar

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=LAB_INVENTORIES, ids=lambda p: p.split("/")[-1][:-3])
def links(request, lab_runner) -> LinksLab:
    lab_runner(request.param)
    return LinksLab(request.param)


@pytest.fixture(scope="module")
def six_hosts(links) -> LinksLab:
    if links.inventory != "inventories/lab.py":
        pytest.skip("run once, on the six-host lab")
    return links


# --- the web foundation ------------------------------------------------------------------------------


def test_the_links_service_answers_through_the_edge_with_its_database_reachable(links):
    answer = links.http("GET", "/api/v1/healthz")
    assert answer.json() == {"status": "ok", "service": "links", "database": "ok"}
    for name, value in SECURITY_HEADERS.items():
        assert answer.headers.get(name) == value, name
    paths = links.http("GET", "/api/v1/openapi.json").json()["paths"]
    assert {"/api/v1/redeem", "/api/v1/invites", "/api/v1/video-phones"} <= set(paths)


# --- pages (L2) ----------------------------------------------------------------------------------------


def test_desktop_and_ipad_see_a_qr_code_of_the_link_and_a_phone_gets_the_open_app_button(links, tmp_path):
    phone, _, (jane,) = links.family(1)
    token = links.issue(phone, jane)
    desktop, ipad, android = links.browse([{"token": token, "device": device, "language": "en"}
                                           for device in ("desktop", "ipad", "android")], tmp_path)
    link = f"{links.public_url}/i/{token}"
    for seen in (desktop, ipad):
        assert seen["status"] == 200 and seen["open_app"] is None, seen
        assert zbar(Path(seen["qr"])) == link
    assert (desktop["device"], ipad["device"]) == ("desktop", "tablet")
    assert android["device"] == "phone" and android["qr"] is None
    assert android["open_app"] == f"{links.deployment.links.app_scheme}://invite/{token}"
    # Opening the page spends nothing.
    assert links.invites(phone)[0]["state"] == "active"


def test_used_revoked_and_expired_links_say_which_in_polish_and_english_and_an_unknown_one_reveals_nothing(
        links, tmp_path):
    phone, _, (jane, john) = links.family(2)
    used = links.issue(phone, jane)
    assert links.redeem(used).status == 201
    revoked = links.issue(phone, john)
    links.issue(phone, john)  # re-issue: the first link of the pair is revoked
    expired = links.issue(phone, jane)
    links_id = links.invites(phone)[0]["id"]
    rtcstack_sql(links, f"UPDATE invites SET expires_at = now() - interval '1 minute' WHERE id = {links_id}")
    unknown = secrets.token_urlsafe(24)
    visits = [{"token": t, "device": "desktop", "language": language}
              for t in (used, revoked, expired, unknown) for language in ("pl", "en")]
    seen = links.browse(visits, tmp_path)
    headings = [(s["status"], s["lang"], s["heading"]) for s in seen]
    assert headings == [
        (410, "pl", "Ten link został już użyty"), (410, "en", "This link has already been used"),
        (410, "pl", "Ten link został unieważniony"), (410, "en", "This link has been revoked"),
        (410, "pl", "Ten link wygasł"), (410, "en", "This link has expired"),
        (404, "pl", "Ten link jest nieprawidłowy"), (404, "en", "This link is not valid"),
    ]
    # Whom to contact is on every page; the unknown one names no one and nothing of the link.
    support = links.deployment.links.support_contact or f"support@{links.deployment.sip_domain}"
    pages = [links.page(t, "en").text for t in (used, revoked, expired, unknown, "short")]
    assert all(support in page for page in pages)
    assert "Anna" not in pages[3] and "Anna" not in pages[4]
    assert links.page("short").status == 404


def rtcstack_sql(links: LinksLab, statement: str) -> None:
    from rtcstack.runtime.database import Database

    Database.connect(links.site).run(statement + ";")


# --- delivery (L1) -----------------------------------------------------------------------------------


def test_an_email_invite_arrives_in_the_relay_mailbox_naming_the_video_phone_user(links):
    phone, _, (jane,) = links.family(1, language="en")
    before = len(mail_lab.mailbox_messages(links))
    token = links.issue(phone, jane, via="email")
    assert _until(lambda: len(mail_lab.mailbox_messages(links)) > before), "no mail arrived"
    mail = mail_lab.mailbox_messages(links)[-1]
    assert f"Anna {phone}" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    link = f"{links.public_url}/i/{token}"
    assert link in text and f'href="{link}"' in html and f"Anna {phone}" in text
    assert links.invites(phone)[0]["delivery"] == "sent"


def test_an_sms_invite_reaches_the_gateway_with_its_credentials(links):
    phone, _, (jane,) = links.family(1)
    token = links.issue(phone, jane, via="sms")
    found = _until(lambda: [r for r in mail_lab.sms_requests(links) if token in r["form"].get("text", "")])
    assert found, "no SMS reached the sink"
    sms = found[-1]
    assert sms["form"]["to"].startswith("+48600") and f"Anna {phone}" in sms["form"]["text"]
    gateway = links.deployment.links.sms_gateway
    if gateway.username:
        import base64
        expected = base64.b64encode(
            f"{gateway.username}:{links.deployment.secret('links_sms_gateway_password')}".encode()).decode()
        assert sms["headers"]["Authorization"] == f"Basic {expected}"


def test_with_the_gateway_down_an_sms_is_retried_and_delivered_when_it_is_back(six_hosts):
    links = six_hosts
    phone, _, (jane,) = links.family(1)
    mail_lab.stop_sms_sink(links)
    try:
        token = links.issue(phone, jane, via="sms")
        failing = _until(lambda: [i for i in links.invites(phone) if i["attempts"] >= 2 and i["last_error"]], 30)
        assert failing and failing[0]["delivery"] == "pending", links.invites(phone)
        assert "SMS gateway" in failing[0]["last_error"]
        listed = rtcstack("invites", "list", links.inventory, "--video-phone", phone).stdout
        assert "pending" in listed and "SMS gateway" in listed
    finally:
        mail_lab.start_sms_sink(links)
    delivered = _until(lambda: [r for r in mail_lab.sms_requests(links) if token in r["form"].get("text", "")], 40)
    assert delivered and links.invites(phone)[0]["delivery"] == "sent"


# --- redeem (L3) and scope (L4) -------------------------------------------------------------------------


def _agent(links: LinksLab, account: tuple[str, str], registrar_uri: str | None = None, **options) -> UserAgent:
    host, port = str(links.registrar.private_address), links.deployment.registrar.sip_port
    if registrar_uri:
        found = re.match(r"sips?:([^:;]+):(\d+)", registrar_uri)
        host, port = found.group(1), int(found.group(2))
    return UserAgent(host, port, links.deployment.sip_domain, *account, **options)


def _display(invite) -> str:
    header = invite.get("from") or ""
    found = re.match(r'\s*"([^"]*)"', header) or re.match(r"\s*([^<\"]+?)\s*<", header)
    return found.group(1).strip() if found else ""


def test_a_video_phone_rings_a_contacts_devices_in_order_and_sees_each_of_them_as_the_contact(links):
    """Seed 000 (R10): Jane's Android, then her iPad, each rung for its ring time; both show the video phone's
    name, and a call from either device shows "Jane" on the video phone, not JaneAndroid or JaneiPad."""
    phone, phone_password, (jane,) = links.family(1)
    android = links.redeem(links.issue(phone, jane), display_name="JaneAndroid").json()
    ipad = links.redeem(links.issue(phone, jane), display_name="JaneiPad").json()  # a second link, a second device
    from rtcstack.runtime.database import Database

    [[customer]] = Database.connect(links.site).run(
        f"SELECT c.name FROM customers c JOIN video_phones v ON v.customer_id = c.id WHERE v.name = '{phone}'")
    group = f"{phone}-jane"
    made = rtcstack("ring-groups", "add", links.inventory, group, "--customer", customer, "--contact",
                    f"{phone}/{jane}", "--ring-seconds", "5").stdout
    assert made.index(android["sip"]["username"]) < made.index(ipad["sip"]["username"]), made
    with _agent(links, (phone, phone_password)) as video_phone, \
            _agent(links, (android["sip"]["username"], android["sip"]["password"]), answer_after=60) as first, \
            _agent(links, (ipad["sip"]["username"], ipad["sip"]["password"])) as second:
        for agent in (video_phone, first, second):
            assert agent.register().status == 200
        call = video_phone.call(group, display=f"Anna {phone}", timeout=20)
        assert call.answered, (call.status, call.reason)
        call.hangup()
        assert len(first.incoming) == 1 and len(second.incoming) == 1
        waited = second.incoming[0].received_at - first.incoming[0].received_at
        assert 4.5 <= waited <= 7, waited
        assert _display(first.incoming[0].invite) == _display(second.incoming[0].invite) == f"Anna {phone}"
        for device in (first, second):
            device.answer_after = 0
            back = device.call(phone)
            assert back.answered, (back.status, back.reason)
            back.hangup()
        assert [_display(c.invite) for c in video_phone.incoming] == [jane, jane]


def test_redeem_gives_an_account_that_calls_its_video_phone_and_family_with_rtp_and_nothing_else(links):
    phone, phone_password, (jane, john) = links.family(2)
    answer = links.redeem(links.issue(phone, jane), recovery_email=f"Jane.{secrets.token_hex(3)}@Example.org")
    assert answer.status == 201, answer.text
    doc = answer.json()
    assert doc["display_name"] == jane and doc["sip"]["domain"] == links.deployment.sip_domain
    transports = [u.rsplit("transport=", 1)[1] for u in doc["sip"]["registrars"]]
    assert transports[:3] == ["udp", "tcp", "tls"]
    assert doc["turn"]["urls"] and doc["turn"]["credential"] and doc["turn"]["expires_at"] > time.time()
    assert doc["contacts"] == [{"sip": f"sip:{phone}@{links.deployment.sip_domain}",
                                "display_name": f"Anna {phone}", "video_phone": True}]
    john_doc = links.redeem(links.issue(phone, john), display_name="JohnAndroid").json()
    assert john_doc["display_name"] == "JohnAndroid"
    assert [c["display_name"] for c in john_doc["contacts"]] == [f"Anna {phone}", jane]
    jane_account = (doc["sip"]["username"], doc["sip"]["password"])
    john_account = (john_doc["sip"]["username"], john_doc["sip"]["password"])
    outsider = f"out-{secrets.token_hex(3)}"
    links_outsider_password = secrets.token_urlsafe(12)
    customer = f"fam-{secrets.token_hex(3)}"
    rtcstack("customers", "add", links.inventory, customer, "--top-up", "1000", "--channels", "5")
    csv = Path(f"/tmp/{outsider}.csv")
    csv.write_text(f"customer,username,password\n{customer},{outsider},{links_outsider_password}\n")
    rtcstack("accounts", "import", links.inventory, str(csv))
    csv.unlink()

    with _agent(links, (phone, phone_password), rtp_seconds=2) as video_phone, \
            _agent(links, jane_account, doc["sip"]["registrars"][0], rtp_seconds=2) as app, \
            _agent(links, john_account) as family, _agent(links, (outsider, links_outsider_password)) as stranger:
        for agent in (video_phone, app, family, stranger):
            assert agent.register().status == 200
        call = app.call(phone)
        assert call.answered, (call.status, call.reason)
        time.sleep(2.5)
        sent, got = call.rtp, video_phone.incoming[0].rtp
        assert sent.sent >= 90 and got.sent >= 90
        assert sent.received >= 0.95 * got.sent and got.received >= 0.95 * sent.sent, (sent, got)
        assert call.hangup().status == 200
        to_family = app.call(john_account[0])
        assert to_family.answered, (to_family.status, to_family.reason)
        to_family.hangup()
        for refused in (app.call(outsider), stranger.call(jane_account[0])):
            assert refused.status == 403 and "circle" in refused.reason, (refused.status, refused.reason)
        # The video phone itself is not scoped: it still reaches accounts outside the circle.
        unscoped = video_phone.call(outsider)
        assert unscoped.answered, (unscoped.status, unscoped.reason)
        unscoped.hangup()


def test_a_spent_link_gets_410_and_creates_nothing_and_20_concurrent_redeems_have_one_winner(links):
    phone, _, (jane, john) = links.family(2)
    token = links.issue(phone, jane)
    assert links.redeem(token).status == 201
    again = links.redeem(token)
    assert again.status == 410 and again.json()["error"] == "used"
    assert links.redeem(secrets.token_urlsafe(24)).status == 404
    raced = links.issue(phone, john)
    with ThreadPoolExecutor(20) as pool:
        statuses = sorted(a.status for a in pool.map(lambda _: links.redeem(raced), range(20)))
    assert statuses == [201] + [410] * 19, statuses
    from rtcstack.runtime.database import Database

    devices = Database.connect(links.site).run(
        f"SELECT count(*) FROM devices d JOIN video_phones v ON v.id = d.video_phone_id WHERE v.name = '{phone}';")
    assert devices == [["2"]]


def test_a_recovery_email_of_another_account_gets_409_in_any_case_and_the_link_stays_usable(links):
    phone, _, (jane, john) = links.family(2)
    address = f"shared.{secrets.token_hex(3)}@example.org"
    assert links.redeem(links.issue(phone, jane), recovery_email=address).status == 201
    token = links.issue(phone, john)
    taken = links.redeem(token, recovery_email=address.upper())
    assert taken.status == 409 and taken.json()["error"] == "recovery_email_taken"
    assert links.redeem(token).status == 201


def test_reissue_revokes_the_old_link(links):
    phone, _, (jane,) = links.family(1)
    old = links.issue(phone, jane)
    new = links.issue(phone, jane)
    assert links.page(old).status == 410 and "revoked" in links.page(old).text
    assert links.redeem(old).json()["error"] == "revoked"
    assert links.redeem(new).status == 201


def test_the_provider_api_needs_the_admin_token_and_issues_invites(links):
    assert links.http("GET", "/api/v1/invites").status == 401
    assert links.http("GET", "/api/v1/invites", headers={"Authorization": "Bearer wrong"}).status == 401
    phone, _, (jane,) = links.family(1)
    issued = links.http("POST", "/api/v1/invites", {"video_phone": phone, "contact": jane, "via": "none"}, admin=True)
    assert issued.status == 201 and issued.json()["link"].startswith(f"{links.public_url}/i/")
    bad = links.http("POST", "/api/v1/invites", {"video_phone": "no-such", "contact": jane}, admin=True)
    assert bad.status == 422 and "no such video phone" in bad.json()["errors"][0]
    listed = links.http("GET", f"/api/v1/invites?video_phone={phone}", admin=True).json()
    assert [row["state"] for row in listed] == ["active"]


# --- abuse and privacy ------------------------------------------------------------------------------------


def test_tokens_appear_in_no_log(links):
    phone, _, (jane,) = links.family(1)
    token = links.issue(phone, jane)
    links.page(token)
    links.redeem(token)
    links.redeem(token)
    edge, web = links.edge.name, links.deployment.hosts_with("links")[0].name
    logs = (_on(links, edge, "cat /var/log/nginx/access.log /var/log/nginx/error.log")
            + _on(links, web, "journalctl -u rtcstack-links --no-pager -n 2000"))
    assert token not in logs
    assert "/i/~" in logs  # the edge logged the page without its token


def _on(links: LinksLab, host: str, command: str) -> str:
    from rtcstack.runtime.remote import connect

    return connect(links.site, [host])[host].run(command)


def test_invite_pages_are_rate_limited_per_address(six_hosts):
    from rtcstack.lab import Lab
    from rtcstack.lab_nat import NatNetworks

    links = six_hosts
    site = links.site
    client = NatNetworks(Lab(site.deployment, site.name, key_dir=site.path.parent)).get("home")
    script = (f"for i in $(seq 60); do curl -sk -o /dev/null -w '%{{http_code}}\\n' --resolve "
              f"{links.edge_name}:443:{links.edge.advertised_address} https://{links.edge_name}/i/"
              f"{secrets.token_urlsafe(24)}; done")
    codes = subprocess.run(client.command(["bash", "-c", script]), capture_output=True, text=True,
                           timeout=120).stdout.split()
    assert codes.count("404") >= links.deployment.links.rate_burst and codes.count("429") >= 20, codes


def test_schemathesis_finds_no_server_error_and_only_documented_statuses(six_hosts, tmp_path):
    links = six_hosts
    st = Path(sys.executable).parent / "schemathesis"
    assert st.exists(), "schemathesis is missing: run scripts/bootstrap"
    schema = tmp_path / "openapi.json"
    schema.write_text(links.http("GET", "/api/v1/openapi.json").text)
    result = subprocess.run(
        [st, "run", str(schema), "--url", f"https://{links.edge.advertised_address}", "--tls-verify", "false",
         "--header", f"Host: {links.edge_name}", "--header", f"Authorization: Bearer {links.admin_token}",
         "--checks", "not_a_server_error,status_code_conformance,response_schema_conformance",
         "--max-examples", "30", "--exclude-path", "/api/v1/healthz", "--rate-limit", "200/s"],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-6000:]
