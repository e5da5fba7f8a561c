"""What the portal role promises, checked on its hosts with testinfra."""

import json

import pytest

from rtcstack.roles.registrar import rpc_urls
from rtcstack.verify.helpers import own_service_on_private_address
from rtcstack.web.config import config_path

pytestmark = [pytest.mark.integration, pytest.mark.role("portal")]

UNIT = ACCOUNT = "rtcstack-portal"


def test_the_portal_runs_as_its_own_account_on_the_private_address_only(target):
    own_service_on_private_address(target, UNIT, target.deployment.portal.port)


def test_the_service_config_with_its_secrets_is_readable_by_root_and_the_service_only(target):
    config = target.remote.file(config_path("portal"))
    assert (config.user, config.group, oct(config.mode)) == ("root", ACCOUNT, "0o640")
    assert json.loads(config.content_string)["service"] == "portal"


def test_the_portal_answers_healthz_with_its_database_reachable(target):
    answer = target.remote.check_output(
        f"curl -s http://{target.host.private_address}:{target.deployment.portal.port}/healthz")
    assert json.loads(answer) == {"status": "ok", "service": "portal", "database": "ok"}


def test_the_registrars_answer_the_portals_json_rpc_with_the_token_and_refuse_it_without(target):
    """The live lamps (R2) and the bans (R13) come from each registrar's JSON-RPC port, open to portal hosts."""
    # the token is read on the host: it never appears in a command line or a failure message
    token = (f"$(python3 -c 'import json; print(json.load(open(\"{config_path('portal')}\"))"
             f"[\"options\"][\"registrar_rpc_token\"])')")
    body = '{"jsonrpc": "2.0", "method": "ul.lookup", "params": ["location", "rtcstack-verify-nobody"], "id": 1}'
    for url in rpc_urls(target.deployment):
        good = target.remote.check_output(
            f"curl -s -m 5 -H \"Authorization: Bearer {token}\" -d '{body}' {url}")
        assert '"jsonrpc"' in good and "AOR not found" in good, (url, good[:300])  # answered: nobody registered
        refused = target.remote.check_output(f"curl -s -m 5 -o /dev/null -w '%{{http_code}}' -d '{body}' {url}")
        assert refused == "401", (url, refused)
        other = target.remote.check_output(
            f"curl -s -m 5 -o /dev/null -w '%{{http_code}}' -H \"Authorization: Bearer {token}\" "
            f"-d '{{\"jsonrpc\": \"2.0\", \"method\": \"core.shmmem\", \"id\": 1}}' {url}")
        assert other == "403", (url, other)
        # another method with an allowed one named inside the body: refused too (the whole body is checked)
        nested = target.remote.check_output(
            f"curl -s -m 5 -o /dev/null -w '%{{http_code}}' -H \"Authorization: Bearer {token}\" "
            f"-d '{{\"jsonrpc\": \"2.0\", \"method\": \"core.shmmem\", \"id\": 1, "
            f"\"x\": {{\"method\": \"ul.lookup\"}}}}' {url}")
        assert nested == "403", (url, nested)


def test_the_renewal_timer_is_active_and_its_last_run_succeeded(target):
    """P13: subscriptions renew from the balance by a timer on each portal host; its job ran without failing."""
    timer = target.remote.service("rtcstack-portal-renewal.timer")
    assert timer.is_enabled and timer.is_running
    unit = target.remote.check_output("systemctl show -p User -p Type --value rtcstack-portal-renewal.service")
    assert unit.split() == ["oneshot", ACCOUNT], unit
    result = target.remote.check_output("systemctl show -p Result --value rtcstack-portal-renewal.service")
    assert result == "success", result
