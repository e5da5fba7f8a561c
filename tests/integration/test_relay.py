"""The relay role on every lab: Postfix takes mail from a links host for any recipient and keeps it in the
catch-all Maildir; the SMS sink records what a links host sends it; nobody else reaches either."""

from __future__ import annotations

import json
import secrets
import shlex
import socket
import time
from dataclasses import dataclass

import pytest

from rtcstack.runtime.remote import RemoteError, connect
from rtcstack.site import Host, Site
from tests.conftest import LAB_INVENTORIES
from tests.integration.mail_lab import (
    clear_mailbox,
    clear_sms,
    mailbox_messages,
    sms_requests,
    start_sms_sink,
    stop_sms_sink,
)

pytestmark = pytest.mark.integration


@dataclass
class RelayLab:
    inventory: str
    site: Site

    def __post_init__(self):
        d = self.site.deployment
        self.relay: Host = d.hosts_with("relay")[0]
        self.links: Host = d.hosts_with("links")[0]
        self.smtp = (str(self.relay.private_address), d.relay.smtp_port)
        self.sink = (str(self.relay.private_address), d.relay.sms_sink_port)

    def python_on_links(self, code: str) -> str:
        """Run Python on the links host (Debian's python3), where the links service sends from."""
        return connect(self.site, [self.links.name])[self.links.name].run(f"python3 -c {shlex.quote(code)}")


@pytest.fixture(scope="module", params=LAB_INVENTORIES, ids=lambda p: p.split("/")[-1][:-3])
def lab(request, lab_runner) -> RelayLab:
    lab_runner(request.param)
    return RelayLab(request.param, Site.load(request.param))


def _until(probe, seconds: float = 15):
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def _send_mail(lab: RelayLab, recipient: str, subject: str) -> None:
    host, port = lab.smtp
    lab.python_on_links(f"""
import smtplib
from email.message import EmailMessage
m = EmailMessage()
m["From"], m["To"], m["Subject"] = "links@{lab.site.deployment.sip_domain}", {recipient!r}, {subject!r}
m.set_content("Join the conference: https://example.invalid/i/abc")
with smtplib.SMTP({host!r}, {port}, timeout=10) as smtp:
    smtp.starttls()
    assert smtp.send_message(m) == {{}}
""")


def _http(lab: RelayLab, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple:
    """(status, JSON answer) of one request from the links host to the SMS sink."""
    host, port = lab.sink
    out = lab.python_on_links(f"""
import json, urllib.error, urllib.request
request = urllib.request.Request("http://{host}:{port}{path}", data={body!r}, method={method!r}, headers={headers or {}!r})
try:
    with urllib.request.urlopen(request, timeout=10) as answer:
        print(answer.status, answer.read().decode())
except urllib.error.HTTPError as error:
    print(error.code, error.read().decode())
""")
    status, _, text = out.strip().partition(" ")
    return int(status), json.loads(text)


def test_mail_for_any_recipient_from_a_links_host_lands_in_the_catch_all_maildir(lab):
    clear_mailbox(lab)
    subjects = [f"Invitation {secrets.token_hex(4)}" for _ in range(2)]
    _send_mail(lab, "jane@example.org", subjects[0])
    _send_mail(lab, "someone@another-domain.test", subjects[1])
    messages = _until(lambda: len(mailbox_messages(lab)) >= 2 and mailbox_messages(lab))
    assert [m["Subject"] for m in messages] == subjects  # newest last
    first = messages[0]
    assert first["To"] == "jane@example.org" and first["X-Original-To"] == "jane@example.org"
    assert "Join the conference" in first.get_content()
    # Received over TLS (STARTTLS with the host's certificate).
    assert "TLS" in str(first["Received"]) or "ESMTPS" in str(first["Received"])
    clear_mailbox(lab)
    assert mailbox_messages(lab) == []


def test_sms_sink_records_form_json_and_query_requests_with_their_credentials(lab):
    clear_sms(lab)
    status, answer = _http(lab, "POST", "/api/send?sender=rtcstack", b"to=%2B48600100200&text=Join+now",
                           {"Authorization": "Basic dXNlcjpwYXNz",
                            "Content-Type": "application/x-www-form-urlencoded"})
    assert (status, answer) == (200, {"status": "accepted", "id": 1})
    status, answer = _http(lab, "POST", "/v2/messages", json.dumps({"to": "+48600", "text": "hi"}).encode(),
                           {"Authorization": "Bearer token-1", "Content-Type": "application/json"})
    assert (status, answer["id"]) == (200, 2)
    status, _ = _http(lab, "GET", "/send?to=%2B48600&text=hello")
    assert status == 200
    form, body, query = sms_requests(lab)
    assert form["method"] == "POST" and form["path"] == "/api/send" and form["query"] == {"sender": "rtcstack"}
    assert form["form"] == {"to": "+48600100200", "text": "Join now"}
    assert form["headers"]["Authorization"] == "Basic dXNlcjpwYXNz"
    assert body["json"] == {"to": "+48600", "text": "hi"} and body["headers"]["Authorization"] == "Bearer token-1"
    assert query["method"] == "GET" and query["query"] == {"to": "+48600", "text": "hello"}


def test_sms_sink_survives_garbage_and_refuses_huge_bodies(lab):
    clear_sms(lab)
    assert _http(lab, "POST", "/x", b"{not json", {"Content-Type": "application/json"})[0] == 200
    assert _http(lab, "POST", "/x", b"\xff\xfe\x00garbage", {"Content-Type": "application/x-www-form-urlencoded"})[0] == 200
    status, answer = _http(lab, "POST", "/x", b"a" * (65 * 1024), {"Content-Type": "text/plain"})
    assert status == 413 and answer["status"] == "rejected"
    host, port = lab.sink
    lab.python_on_links(f"""
import socket
s = socket.create_connection(({host!r}, {port}), timeout=5)
s.sendall(b"\\x00\\x01 not http at all\\r\\n\\r\\n")
s.recv(1000)
s.close()
""")
    assert _http(lab, "GET", "/still-alive")[0] == 200
    recorded = sms_requests(lab)
    assert recorded[0]["body"] == "{not json" and recorded[-1]["path"] == "/still-alive" and len(recorded) == 3


def test_stopped_sms_sink_refuses_connections_until_started(lab):
    stop_sms_sink(lab)
    try:
        with pytest.raises(RemoteError, match="Connection refused"):
            _http(lab, "GET", "/down")
    finally:
        start_sms_sink(lab)
    assert _http(lab, "GET", "/up")[0] == 200


@pytest.mark.parametrize("service", ["smtp", "sink"])
def test_relay_ports_drop_hosts_that_are_not_links_or_portal(lab, service):
    """This machine (the lab network's gateway) is neither a links nor a portal host: the firewall drops it."""
    with pytest.raises(TimeoutError):
        socket.create_connection(getattr(lab, service), timeout=2).close()
