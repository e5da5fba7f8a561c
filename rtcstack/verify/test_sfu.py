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
    """The running Janus started cleanly: its start-up lines, up to the line saying its last transport is
    initialized (a line no request can produce), hold no error. Errors that requests cause later, such as an
    unauthenticated call to the API, are not start-up errors."""
    pid = target.remote.check_output("systemctl show -p MainPID --value janus").strip()
    lines = target.remote.check_output(f"journalctl _PID={pid} --no-pager -o cat").splitlines()
    ready = [i for i, line in enumerate(lines) if "transport plugin initialized" in line]
    assert len(ready) >= 2, "Janus has not initialized its HTTP and WebSocket transports"
    start_up = "\n".join(lines[:ready[1] + 1])
    assert "[ERR]" not in start_up and "FATAL" not in start_up, start_up[-3000:]
