"""The typed configuration: defaults, derived values, and errors an operator can act on."""

from pathlib import Path

import pytest

from rtcstack.site import SECRETS, ConfigError, load
from rtcstack.site.secrets import SecretStore


def problems_for(project: Path, inventory: str, extra_group_data: str = "", group: str = "lab") -> list[str]:
    if extra_group_data:
        with open(project / "group_data" / f"{group}.py", "a") as handle:
            handle.write("\n" + extra_group_data + "\n")
    with pytest.raises(ConfigError) as caught:
        load(project / inventory)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("inventory", ["inventories/lab.py", "inventories/single.py"])
def test_config_lab_inventories_are_valid(project_copy, inventory):
    """The shipped lab inventories validate (their secrets are generated on first use)."""
    deployment = load(project_copy / inventory)
    assert deployment.channels == 300
    assert set(deployment.required_secrets()) == set(SECRETS)


def test_config_port_ranges_are_sized_from_channels(project_copy):
    """Each port range grows with channels: ports per channel plus the headroom."""
    with open(project_copy / "group_data" / "lab.py", "a") as handle:
        handle.write("channels = 10\nport_headroom_percent = 50\n")
    deployment = load(project_copy / "inventories/lab.py")
    assert deployment.media_rtp_ports.size == 10 * 4 * 3 // 2
    assert deployment.turn_relay_ports.size == 10 * 2 * 3 // 2
    assert deployment.sfu_rtp_ports.size == 10 * 2 * 3 // 2
    assert deployment.media_rtp_ports.start == 30000


def test_config_rejects_channels_over_300(project_copy):
    """channels = 301 names the key, the value and the allowed range."""
    [problem] = problems_for(project_copy, "inventories/lab.py", "channels = 301")
    assert problem.startswith("channels = 301:") and "300" in problem and "Fix:" in problem


def test_config_rejects_overlapping_ranges_on_one_host(project_copy):
    """Two services on one host with overlapping port ranges name both keys and the host."""
    [problem] = problems_for(project_copy, "inventories/single.py", 'sfu = {"rtp_port_min": 30500}', group="single")
    assert "sfu.rtp_port_min = 30500" in problem
    assert "media.rtp_port_min" in problem and "aio1" in problem and "30000-31499" in problem


def test_config_allows_the_same_range_on_different_hosts(project_copy):
    """Ranges only conflict on one host: the six-host lab takes the overlap single.py refuses."""
    with open(project_copy / "group_data" / "lab.py", "a") as handle:
        handle.write('sfu = {"rtp_port_min": 30500}\n')
    load(project_copy / "inventories/lab.py")


def test_config_reports_every_problem_not_only_the_first(project_copy):
    """Several mistakes give several problems in one run."""
    problems = problems_for(project_copy, "inventories/lab.py",
                            'channels = 0\nsystem = {"timezone": "Mars/Olympus"}\nchanels = 5')
    assert len(problems) == 3
    assert any(p.startswith("channels = 0") for p in problems)
    assert any("system.timezone = 'Mars/Olympus'" in p for p in problems)
    assert any("chanels" in p and "did you mean 'channels'" in p for p in problems)


def test_config_names_a_missing_secret(project_copy):
    """A secret missing from the store is named, with the command that makes it."""
    inventory = project_copy / "inventories/lab.py"
    load(inventory)
    SecretStore.for_inventory(inventory).remove("turn_shared_secret")
    [problem] = problems_for(project_copy, "inventories/lab.py")
    assert problem.startswith("secrets.turn_shared_secret = (not set): is missing")
    assert f"rtcstack secrets init {inventory}" in problem


def test_config_rejects_a_placeholder_secret_without_showing_it(project_copy):
    """A placeholder secret is refused and its value never printed."""
    inventory = project_copy / "inventories/lab.py"
    store = SecretStore.for_inventory(inventory)
    load(inventory)
    entries = store.read()
    entries["janus_api_secret"]["value"] = "changeme-changeme-changeme"
    store.write(entries)
    [problem] = problems_for(project_copy, "inventories/lab.py")
    assert "secrets.janus_api_secret = <hidden>" in problem and "changeme" not in problem


def test_config_production_inventory_needs_its_secrets(project_copy):
    """A non-lab inventory never gets secrets made behind the operator's back."""
    problems = problems_for(project_copy, "inventories/production.example.py")
    assert {p.split(" ")[0] for p in problems} == {f"secrets.{name}" for name in SECRETS}
    assert not (project_copy / "inventories/production.example.secrets").exists()


def test_config_role_without_its_dependency_is_refused(project_copy):
    """A registrar with no database host is refused before anything runs."""
    path = project_copy / "inventories/lab.py"
    path.write_text(path.read_text().replace('database = [_host("db1")]', "database = []"))
    problems = problems_for(project_copy, "inventories/lab.py")
    assert any(p.startswith("groups.database") and "registrar" in p for p in problems)


def test_config_deployment_setting_must_agree_across_hosts(project_copy):
    """A deployment-wide key set differently per host is one problem naming the hosts."""
    (project_copy / "group_data" / "media.py").write_text("channels = 100\n")
    [problem] = problems_for(project_copy, "inventories/lab.py")
    assert problem.startswith("channels = ") and "media1: 100" in problem and "group_data/all.py" in problem


def test_config_role_section_may_live_in_its_group_data(project_copy):
    """group_data/media.py may hold the media section: only media hosts read it."""
    (project_copy / "group_data" / "media.py").write_text('media = {"rtp_port_min": 40000}\n')
    assert load(project_copy / "inventories/lab.py").media_rtp_ports.start == 40000


def test_config_range_past_65535_is_refused(project_copy):
    """A range start that pushes the sized range past 65535 says how low to go."""
    [problem] = problems_for(project_copy, "inventories/lab.py", 'turn = {"relay_port_min": 65000}')
    assert problem.startswith("turn.relay_port_min = 65000") and "set turn.relay_port_min to 64786 or lower" in problem


def test_config_lab_address_outside_subnet_is_refused(project_copy):
    """A lab host address outside the lab subnet is refused with the subnet named."""
    path = project_copy / "inventories/lab.py"
    path.write_text(path.read_text().replace("198.18.10.16", "198.18.11.16"))
    [problem] = problems_for(project_copy, "inventories/lab.py")
    assert problem.startswith("hosts.web1.private_address = '198.18.11.16'") and "198.18.10.0/24" in problem


def test_config_firewall_sources_follow_roles(project_copy):
    """PostgreSQL is open only to the hosts of the roles that use it."""
    deployment = load(project_copy / "inventories/lab.py")
    [postgres] = [lst for lst in deployment.listeners(deployment.hosts["db1"]) if lst.service == "postgresql"]
    assert [str(a) for a in postgres.sources] == ["198.18.10.12", "198.18.10.13", "198.18.10.16"]
