"""What the registrar role promises, checked on its hosts with testinfra."""

import pytest

from rtcstack.roles.registrar import KAMAILIO_FILES, KAMAILIO_STAGED
from rtcstack.verify.helpers import listening

pytestmark = [pytest.mark.integration, pytest.mark.role("registrar")]


def test_kamailio_runs_the_checked_config(target):
    assert target.remote.service("kamailio").is_running and target.remote.service("kamailio").is_enabled
    for name in KAMAILIO_FILES:
        installed, staged = target.remote.file(f"/etc/kamailio/{name}"), target.remote.file(f"{KAMAILIO_STAGED}/{name}")
        assert installed.content_string == staged.content_string, name
        assert (installed.user, installed.group, installed.mode) == ("root", "kamailio", 0o640), name
    assert target.remote.run("kamailio -c -f /etc/kamailio/kamailio.cfg").rc == 0


def test_kamailio_listens_on_udp_tcp_and_tls(target):
    r, address = target.deployment.registrar, target.host.private_address
    assert f"{address}:{r.sip_port}" in listening(target, "udp")
    assert {f"{address}:{r.sip_port}", f"{address}:{r.sip_tls_port}"} <= listening(target, "tcp")


def test_the_sip_udp_socket_buffers_what_the_host_allows(target):
    """maxbuffer: the socket's receive buffer grew past Kamailio's own 256 KiB ceiling to the host's limit (the kernel
    reports twice what was asked: its bookkeeping included)."""
    r, address = target.deployment.registrar, target.host.private_address
    allowed = int(target.remote.file("/proc/sys/net/core/rmem_max").content_string)
    wanted = min(allowed, target.deployment.sysctls(target.host)["net.core.rmem_max"])
    socket = target.remote.run(f"ss -uamnH 'sport = :{r.sip_port}' src {address}").stdout
    buffer = int(socket.split("rb", 1)[1].split(",", 1)[0])
    assert buffer >= 2 * wanted * 0.9 and buffer > 2 * 256 * 1024, socket
