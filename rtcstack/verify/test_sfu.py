"""What the sfu role promises, checked on its hosts with testinfra."""

import pytest

from rtcstack.roles.sfu import JANUS_USER
from rtcstack.verify.helpers import listening

pytestmark = [pytest.mark.integration, pytest.mark.role("sfu")]


def test_janus_runs_as_its_own_account_with_apis_on_private_and_loopback_addresses(target):
    assert target.remote.service("janus").is_running and target.remote.service("janus").is_enabled
    assert JANUS_USER in target.remote.check_output("ps -o user= -C janus")
    s, address = target.deployment.sfu, target.host.private_address
    tcp = listening(target, "tcp")
    assert {f"{address}:{s.http_port}", f"{address}:{s.websocket_port}", f"127.0.0.1:{s.admin_port}"} <= tcp
    for port in (s.http_port, s.websocket_port, s.admin_port):
        assert not [x for x in tcp if x.endswith(f":{port}") and x.split(":")[0] in ("0.0.0.0", "*", "[::]")]


def test_janus_log_has_no_start_up_errors(target):
    """The running Janus started cleanly: its first lines (start-up, before any request) hold no error."""
    pid = target.remote.check_output("systemctl show -p MainPID --value janus").strip()
    log = target.remote.check_output(f"journalctl _PID={pid} --no-pager -o cat | sed '/Creating new session/q'")
    assert "transport plugin initialized" in log
    assert "[ERR]" not in log and "FATAL" not in log, log[-3000:]
