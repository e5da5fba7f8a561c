"""What the gateway role promises, checked on its hosts with testinfra."""

import json

import pytest

from rtcstack.roles.gateway import ACCOUNT, CONFIG
from rtcstack.verify.helpers import listening

pytestmark = [pytest.mark.integration, pytest.mark.role("gateway")]


def test_the_gateway_runs_as_its_own_account_on_the_private_address_only(target):
    service = target.remote.service(ACCOUNT)
    assert service.is_running and service.is_enabled
    pid = target.remote.check_output(f"systemctl show -p MainPID --value {ACCOUNT}").strip()
    assert target.remote.check_output(f"ps -o user= -p {pid}").strip() == ACCOUNT
    port, address = target.deployment.gateway.port, target.host.private_address
    tcp = listening(target, "tcp")
    assert f"{address}:{port}" in tcp
    assert not [x for x in tcp if x.endswith(f":{port}") and x.split(":")[0] in ("0.0.0.0", "*", "[::]")]


def test_the_gateway_config_with_its_secrets_is_readable_by_root_and_the_gateway_only(target):
    config = target.remote.file(CONFIG)
    assert (config.user, config.group, oct(config.mode)) == ("root", ACCOUNT, "0o640")
    assert json.loads(config.content_string)["service"] == "gateway"


def test_the_gateway_answers_healthz(target):
    answer = target.remote.check_output(
        f"curl -s http://{target.host.private_address}:{target.deployment.gateway.port}/healthz")
    assert json.loads(answer)["ok"] is True
