"""What the links role promises, checked on its hosts with testinfra."""

import json

import pytest

from rtcstack.verify.helpers import own_service_on_private_address
from rtcstack.web.config import config_path

pytestmark = [pytest.mark.integration, pytest.mark.role("links")]

UNIT = ACCOUNT = "rtcstack-links"


def test_the_links_service_runs_as_its_own_account_on_the_private_address_only(target):
    own_service_on_private_address(target, UNIT, target.deployment.links.port)


def test_the_service_config_with_the_database_password_is_readable_by_root_and_the_service_only(target):
    config = target.remote.file(config_path("links"))
    assert (config.user, config.group, oct(config.mode)) == ("root", ACCOUNT, "0o640")
    assert json.loads(config.content_string)["service"] == "links"


def test_the_links_service_answers_healthz_with_its_database_reachable(target):
    answer = target.remote.check_output(
        f"curl -s http://{target.host.private_address}:{target.deployment.links.port}/healthz")
    assert json.loads(answer) == {"status": "ok", "service": "links", "database": "ok"}


def test_hosts_get_only_what_the_services_import(target):
    """The venv holds the service's dependencies and no operator tooling (pyinfra, Locust, matplotlib)."""
    listed = target.remote.check_output("/opt/rtcstack/venv/bin/pip list --format=freeze --disable-pip-version-check")
    names = {line.split("==")[0].lower() for line in listed.splitlines()}
    assert {"rtcstack", "fastapi", "uvicorn", "sqlalchemy"} <= names
    assert not names & {"pyinfra", "locust", "matplotlib", "docker"}, names
