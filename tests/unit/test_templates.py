"""Every template renders for every shipped inventory, says it is managed, and carries the model's values."""

import pytest

from rtcstack.infra.base import config_files
from rtcstack.site import SECRETS, load
from rtcstack.templating import MANAGED
from tests.conftest import SHIPPED_INVENTORIES

FAKE_SECRETS = {name: f"{i:02d}" + "a1b2c3d4" * 8 for i, name in enumerate(SECRETS)}


@pytest.mark.parametrize("inventory", SHIPPED_INVENTORIES)
def test_templates_render_for_every_shipped_inventory(project_copy, inventory):
    """Each base file renders for each host with no undefined value and a managed header."""
    deployment = load(project_copy / inventory, secrets=FAKE_SECRETS)
    for host in deployment.hosts.values():
        for item in config_files(deployment, host).values():
            text = item.render()
            assert MANAGED in "\n".join(text.splitlines()[:2]), item.template


def test_templates_nftables_carries_every_derived_rule(project_copy):
    """The ruleset for turn1 has the relay range and the TLS port, and nothing for PostgreSQL."""
    deployment = load(project_copy / "inventories/lab.py")
    text = config_files(deployment, deployment.hosts["turn1"])["nftables"].render()
    assert "udp dport 49152-49901 accept" in text and "tcp dport 5349 accept" in text
    assert "5432" not in text and "policy drop" in text


def test_templates_timezone_and_journald_follow_settings(project_copy):
    """journald's limit comes from system.journald_max_use."""
    with open(project_copy / "group_data/single.py", "a") as handle:
        handle.write('system = {"journald_max_use": "2G", "timezone": "Europe/Warsaw"}\n')
    deployment = load(project_copy / "inventories/single.py")
    text = config_files(deployment, deployment.hosts["aio1"])["journald"].render()
    assert "SystemMaxUse=2G" in text
