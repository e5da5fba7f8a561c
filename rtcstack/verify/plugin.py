"""The verify suite's pytest plugin: one (inventory, host) target per test, reached with testinfra.

`rtcstack verify INVENTORY` runs the suite with this plugin against the inventory's hosts; rtcstack's
own test suite loads it too (pyproject's addopts) and brings its labs up first through the
`prepare_inventory` fixture it overrides.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from rtcstack.site import Deployment, Host, Site, short_name


def pytest_addoption(parser):
    group = parser.getgroup("rtcstack")
    group.addoption("--rtcstack-inventory", action="append", default=None,
                    help="Inventory to verify (repeatable); default: the rtcstack_inventories ini setting.")
    group.addoption("--rtcstack-verify-only", action="store_true",
                    help="Only check hosts; never bring up a lab or deploy (what `rtcstack verify` runs).")
    parser.addini("rtcstack_inventories", "Inventories the verify suite checks by default.", type="linelist",
                  default=[])


def pytest_configure(config):
    config.addinivalue_line("markers", "role(name): a verify test that runs only on the hosts of that role")
    config.addinivalue_line("markers", "integration: needs deployed hosts (a lab, or real ones)")


def chosen_inventories(config) -> list[str]:
    return config.getoption("--rtcstack-inventory") or config.getini("rtcstack_inventories")


_sites: dict[str, Site] = {}


def site_of(inventory: str) -> Site:
    """Each inventory read once per test session."""
    if inventory not in _sites:
        _sites[inventory] = Site.load(inventory)
    return _sites[inventory]


@dataclass
class Target:
    inventory: str
    site: Site
    host: Host
    remote: object  # testinfra Host

    @property
    def deployment(self) -> Deployment:
        return self.site.deployment

    def __repr__(self) -> str:
        return f"{self.host.name}@{self.inventory}"


def testinfra_spec(pyinfra_host) -> str:
    """docker://NAME for lab containers, ssh://USER@HOST[:PORT] for hosts reached over SSH."""
    name, data = pyinfra_host.name, pyinfra_host.data
    if name.startswith("@docker/"):
        return f"docker://{data.get('docker_identifier') or short_name(name)}"
    user = data.get("ssh_user")
    port = data.get("ssh_port")
    return f"ssh://{user + '@' if user else ''}{data.get('ssh_hostname') or name}{':' + str(port) if port else ''}"


def _ssh_options(pyinfra_host) -> dict:
    """testinfra's ssh options from pyinfra's SSH data: the key, and host-key checking where pyinfra skips it."""
    data, out = pyinfra_host.data, {}
    if data.get("ssh_key"):
        out["ssh_identity_file"] = str(data.get("ssh_key"))
    extra = []
    if data.get("ssh_strict_host_key_checking") in ("no", "off", False):
        extra.append("-o StrictHostKeyChecking=no")
    if data.get("ssh_known_hosts_file"):
        extra.append(f"-o UserKnownHostsFile={data.get('ssh_known_hosts_file')}")
    if extra:
        out["ssh_extra_args"] = " ".join(extra)
    return out


def pytest_generate_tests(metafunc):
    if "target" not in metafunc.fixturenames:
        return
    # @pytest.mark.role("turn") runs a test only on the hosts of that role.
    marker = metafunc.definition.get_closest_marker("role")
    role = marker.args[0] if marker else None
    pairs = []
    for inventory in chosen_inventories(metafunc.config):
        for name, host in site_of(inventory).pyinfra_hosts().items():
            if role and role not in host.groups:
                continue
            pairs.append((inventory, name))
    metafunc.parametrize("target_spec", pairs, ids=[f"{n}@{Path(i).stem}" for i, n in pairs], scope="session")


@pytest.fixture(scope="session")
def prepare_inventory():
    """Called with each inventory before its hosts are checked; the project's tests bring a lab up here."""
    return lambda inventory: None


@pytest.fixture(scope="session")
def target(target_spec, prepare_inventory) -> Target:
    import testinfra

    inventory, name = target_spec
    prepare_inventory(inventory)
    site = site_of(inventory)
    pyinfra_host = site.pyinfra_hosts()[name]
    spec = testinfra_spec(pyinfra_host)
    if spec.startswith("ssh://"):
        remote = testinfra.get_host(spec, **_ssh_options(pyinfra_host))
    else:
        remote = testinfra.get_host(spec)
    return Target(inventory, site, site.host(name), remote)
