"""Targets for the verify suite: one (inventory, host) pair per test, reached with testinfra."""

from dataclasses import dataclass

import pytest
import testinfra

from rtcstack.config import Deployment, Host, load, load_inventory, short_name
from tests.conftest import chosen_inventories


@dataclass
class Target:
    inventory: str
    deployment: Deployment
    host: Host
    remote: object  # testinfra Host

    def __repr__(self) -> str:
        return f"{self.host.name}@{self.inventory}"


def testinfra_spec(pyinfra_host) -> str:
    """docker://NAME for lab containers, ssh://USER@HOST[:PORT] for real hosts."""
    name, data = pyinfra_host.name, pyinfra_host.data
    if name.startswith("@docker/"):
        return f"docker://{data.get('docker_identifier') or short_name(name)}"
    user = data.get("ssh_user")
    port = data.get("ssh_port")
    return f"ssh://{user + '@' if user else ''}{data.get('ssh_hostname') or name}{':' + str(port) if port else ''}"


def pytest_generate_tests(metafunc):
    if "target" not in metafunc.fixturenames:
        return
    # @pytest.mark.role("turn") runs a test only on the hosts of that role.
    marker = metafunc.definition.get_closest_marker("role")
    role = marker.args[0] if marker else None
    pairs = []
    for inventory in chosen_inventories(metafunc.config):
        for host in load_inventory(inventory):
            if role and role not in host.groups:
                continue
            pairs.append((inventory, short_name(host.name), testinfra_spec(host)))
    metafunc.parametrize("target_spec", pairs, ids=[f"{n}@{i.split('/')[-1][:-3]}" for i, n, _ in pairs],
                         scope="session")


_deployments: dict[str, Deployment] = {}


@pytest.fixture(scope="session")
def target(target_spec, lab_runner) -> Target:
    inventory, name, spec = target_spec
    lab_runner(inventory)
    if inventory not in _deployments:
        _deployments[inventory] = load(inventory)
    deployment = _deployments[inventory]
    return Target(inventory, deployment, deployment.hosts[name], testinfra.get_host(spec))
