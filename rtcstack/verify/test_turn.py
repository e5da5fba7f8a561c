"""What the turn role promises, checked on its hosts with testinfra."""

import pytest

from rtcstack.verify.helpers import listening

pytestmark = [pytest.mark.integration, pytest.mark.role("turn")]


def test_coturn_listens_on_the_private_address_without_a_cli(target):
    assert target.remote.service("coturn").is_running and target.remote.service("coturn").is_enabled
    t, address = target.deployment.turn, target.host.private_address
    expected = {f"{address}:{t.listening_port}", f"{address}:{t.tls_listening_port}"}
    assert expected <= listening(target, "udp") and expected <= listening(target, "tcp")
    assert not [s for s in listening(target, "tcp") if s.endswith(":5766")]  # coturn's telnet CLI
    conf = target.remote.file("/etc/turnserver.conf")
    assert (conf.user, conf.group, conf.mode) == ("root", "turnserver", 0o640)
    assert "no-cli" in conf.content_string.splitlines()
