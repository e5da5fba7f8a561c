"""What the database, registrar and media roles promise, checked on their hosts with testinfra."""

import pytest

from rtcstack.deploy.database import PG_ETC, PG_SERVICE, ROLES_SQL
from rtcstack.deploy.registrar import KAMAILIO_FILES, KAMAILIO_STAGED
from tests.verify.helpers import listening as _listening

pytestmark = pytest.mark.integration


@pytest.mark.role("database")
def test_postgresql_listens_on_the_private_address_only(target):
    assert target.remote.service(PG_SERVICE).is_running
    port = target.deployment.database.port
    sockets = {s for s in _listening(target, "tcp") if s.endswith(f":{port}")}
    assert sockets == {f"{target.host.private_address}:{port}"}


@pytest.mark.role("database")
def test_database_files_are_private(target):
    hba = target.remote.file(f"{PG_ETC}/pg_hba.conf")
    assert (hba.user, hba.group, hba.mode) == ("postgres", "postgres", 0o640)
    roles = target.remote.file(ROLES_SQL)
    assert (roles.user, roles.mode) == ("root", 0o600)


@pytest.mark.role("registrar")
def test_kamailio_runs_the_checked_config(target):
    assert target.remote.service("kamailio").is_running and target.remote.service("kamailio").is_enabled
    for name in KAMAILIO_FILES:
        installed, staged = target.remote.file(f"/etc/kamailio/{name}"), target.remote.file(f"{KAMAILIO_STAGED}/{name}")
        assert installed.content_string == staged.content_string, name
        assert (installed.user, installed.group, installed.mode) == ("root", "kamailio", 0o640), name
    assert target.remote.run("kamailio -c -f /etc/kamailio/kamailio.cfg").rc == 0


@pytest.mark.role("registrar")
def test_kamailio_listens_on_udp_tcp_and_tls(target):
    r, address = target.deployment.registrar, target.host.private_address
    assert f"{address}:{r.sip_port}" in _listening(target, "udp")
    assert {f"{address}:{r.sip_port}", f"{address}:{r.sip_tls_port}"} <= _listening(target, "tcp")


@pytest.mark.role("media")
def test_rtpengine_runs_in_userspace_with_control_on_the_private_address(target):
    assert target.remote.service("rtpengine-daemon").is_running
    assert f"{target.host.private_address}:{target.deployment.media.control_port}" in _listening(target, "udp")
    conf = target.remote.file("/etc/rtpengine/rtpengine.conf").content_string
    ports = target.deployment.media_rtp_ports
    assert "table = -1" in conf and f"port-min = {ports.start}" in conf and f"port-max = {ports.end}" in conf
    assert "MANAGE_IPTABLES=no" in target.remote.file("/etc/default/rtpengine-daemon").content_string
