"""What the media role promises, checked on its hosts with testinfra."""

import pytest

from rtcstack.verify.helpers import listening

pytestmark = [pytest.mark.integration, pytest.mark.role("media")]


def test_rtpengine_runs_in_userspace_with_control_on_the_private_address(target):
    assert target.remote.service("rtpengine-daemon").is_running
    assert f"{target.host.private_address}:{target.deployment.media.control_port}" in listening(target, "udp")
    conf = target.remote.file("/etc/rtpengine/rtpengine.conf").content_string
    ports = target.deployment.media_rtp_ports
    assert "table = -1" in conf and f"port-min = {ports.start}" in conf and f"port-max = {ports.end}" in conf
    assert "MANAGE_IPTABLES=no" in target.remote.file("/etc/default/rtpengine-daemon").content_string


def test_rtpengine_allocates_through_jemalloc_when_the_deployment_says_so(target):
    """media.jemalloc (on by default): the unit preloads Debian's jemalloc, which the loader finds by name; where
    this login may read the daemon's memory map (not in a container without ptrace rights), it is mapped there."""
    unit = target.remote.run("systemctl show -p Environment rtpengine-daemon").stdout
    assert ("LD_PRELOAD=libjemalloc.so.2" in unit) == target.deployment.media.jemalloc, unit
    if target.deployment.media.jemalloc:
        assert "libjemalloc.so.2 " in target.remote.run("ldconfig -p").stdout
        maps = target.remote.run("cat /proc/$(pidof rtpengine)/maps")
        if maps.rc == 0:
            assert "libjemalloc.so.2" in maps.stdout
