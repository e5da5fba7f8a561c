"""What the turn, sfu and edge roles promise, checked on their hosts with testinfra."""

import pytest

from rtcstack.deploy.edge import NGINX_CONF, NGINX_STAGED
from rtcstack.deploy.sfu import JANUS_USER
from tests.verify.helpers import listening

pytestmark = pytest.mark.integration


@pytest.mark.role("turn")
def test_coturn_listens_on_the_private_address_without_a_cli(target):
    assert target.remote.service("coturn").is_running and target.remote.service("coturn").is_enabled
    t, address = target.deployment.turn, target.host.private_address
    expected = {f"{address}:{t.listening_port}", f"{address}:{t.tls_listening_port}"}
    assert expected <= listening(target, "udp") and expected <= listening(target, "tcp")
    assert not [s for s in listening(target, "tcp") if s.endswith(":5766")]  # coturn's telnet CLI
    conf = target.remote.file("/etc/turnserver.conf")
    assert (conf.user, conf.group, conf.mode) == ("root", "turnserver", 0o640)
    assert "no-cli" in conf.content_string.splitlines()


@pytest.mark.role("sfu")
def test_janus_runs_as_its_own_account_with_apis_on_private_and_loopback_addresses(target):
    assert target.remote.service("janus").is_running and target.remote.service("janus").is_enabled
    assert JANUS_USER in target.remote.check_output("ps -o user= -C janus")
    s, address = target.deployment.sfu, target.host.private_address
    tcp = listening(target, "tcp")
    assert {f"{address}:{s.http_port}", f"{address}:{s.websocket_port}", f"127.0.0.1:{s.admin_port}"} <= tcp
    for port in (s.http_port, s.websocket_port, s.admin_port):
        assert not [x for x in tcp if x.endswith(f":{port}") and x.split(":")[0] in ("0.0.0.0", "*", "[::]")]


@pytest.mark.role("sfu")
def test_janus_log_has_no_start_up_errors(target):
    """The running Janus started cleanly: its first lines (start-up, before any request) hold no error."""
    pid = target.remote.check_output("systemctl show -p MainPID --value janus").strip()
    log = target.remote.check_output(f"journalctl _PID={pid} --no-pager -o cat | sed '/Creating new session/q'")
    assert "transport plugin initialized" in log
    assert "[ERR]" not in log and "FATAL" not in log, log[-3000:]


@pytest.mark.role("edge")
def test_nginx_runs_the_checked_config(target):
    assert target.remote.service("nginx").is_running and target.remote.service("nginx").is_enabled
    installed, staged = target.remote.file(NGINX_CONF), target.remote.file(NGINX_STAGED)
    assert installed.content_string == staged.content_string
    assert target.remote.run("nginx -t -q").rc == 0
    e = target.deployment.edge
    assert {f"0.0.0.0:{e.http_port}", f"0.0.0.0:{e.https_port}"} <= listening(target, "tcp")
