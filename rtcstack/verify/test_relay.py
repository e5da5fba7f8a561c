"""What the relay role promises, checked on its hosts with testinfra."""

import pytest

from rtcstack.roles.relay import POSTFIX_SERVICE, POSTFIX_STAGED, SMS_SINK_SERVICE
from rtcstack.verify.helpers import listening

pytestmark = [pytest.mark.integration, pytest.mark.role("relay")]


def test_postfix_runs_the_checked_config_on_the_private_address_and_loopback_only(target):
    service = target.remote.service(POSTFIX_SERVICE)
    assert service.is_running and service.is_enabled
    for name in ("main.cf", "master.cf"):
        assert (target.remote.file(f"/etc/postfix/{name}").content_string
                == target.remote.file(f"{POSTFIX_STAGED}/{name}").content_string)
    assert target.remote.run("postfix check").rc == 0
    port = target.deployment.relay.smtp_port
    smtp = {s for s in listening(target, "tcp") if s.endswith(f":{port}")}
    assert smtp == {f"{target.host.private_address}:{port}", f"127.0.0.1:{port}"}


def test_postfix_relays_for_links_and_portal_hosts_only(target):
    """mynetworks names loopback and the links and portal hosts, and nobody else may even start a session."""
    mynetworks = target.remote.check_output("postconf -h mynetworks").split()
    clients = {f"{a}/32" for a in target.deployment.addresses_of("links", "portal")}
    assert set(mynetworks) == {"127.0.0.0/8", *clients}
    assert target.remote.check_output("postconf -h smtpd_client_restrictions") == "permit_mynetworks, reject"


def test_catch_all_mailbox_is_the_only_destination_when_set(target):
    mailbox = target.deployment.relay_mailbox
    if mailbox is None:
        assert target.remote.check_output("postconf -xh virtual_alias_maps") == ""
        return
    resolved = target.remote.check_output("postmap -q jane@example.org $(postconf -xh virtual_alias_maps)")
    assert resolved == f"{target.deployment.relay.catch_all_mailbox}@localhost"
    home = target.remote.file(mailbox.rsplit("/", 2)[0])
    # (the set-group-ID bit of Debian's /var/mail may carry over to the home: only the permissions count)
    assert home.is_directory and home.user == target.deployment.relay.catch_all_mailbox
    assert home.mode & 0o777 == 0o700, oct(home.mode)


def test_sms_sink_listens_on_the_private_address_when_configured(target):
    port = target.deployment.relay.sms_sink_port
    sink = target.remote.service(SMS_SINK_SERVICE)
    if not port:
        assert not sink.is_running
        return
    assert sink.is_running and sink.is_enabled
    assert {s for s in listening(target, "tcp") if s.endswith(f":{port}")} == {f"{target.host.private_address}:{port}"}
