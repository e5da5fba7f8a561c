"""What the edge role promises, checked on its hosts with testinfra."""

import pytest

from rtcstack.roles.edge import NGINX_CONF, NGINX_STAGED
from rtcstack.verify.helpers import listening

pytestmark = [pytest.mark.integration, pytest.mark.role("edge")]


def test_nginx_runs_the_checked_config(target):
    assert target.remote.service("nginx").is_running and target.remote.service("nginx").is_enabled
    installed, staged = target.remote.file(NGINX_CONF), target.remote.file(NGINX_STAGED)
    assert installed.content_string == staged.content_string
    assert target.remote.run("nginx -t -q").rc == 0
    e = target.deployment.edge
    assert {f"0.0.0.0:{e.http_port}", f"0.0.0.0:{e.https_port}"} <= listening(target, "tcp")
