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
