"""The loadgen role: where workers go, what the firewall and TURN let reach them, its unit; no lab needed."""

import re
from ipaddress import IPv4Network

import pytest

from rtcstack.config.problems import ConfigError
from rtcstack.roles import loadgen, turn
from rtcstack.site import load
from tests.unit.test_templates import FAKE_SECRETS


def _scale(project_copy):
    return load(project_copy / "inventories/scale.py", secrets=FAKE_SECRETS)


def test_workers_are_spread_round_robin_over_the_loadgen_hosts(project_copy):
    deployment = _scale(project_copy)
    assert [h.name for h in loadgen.placement(deployment, 5)] == [
        "scale-load1", "scale-load2", "scale-load1", "scale-load2", "scale-load1"]
    lab = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    assert loadgen.placement(lab, 3) == []


def test_only_the_platforms_senders_reach_a_workers_ephemeral_ports(project_copy):
    deployment = _scale(project_copy)
    rules = loadgen.listeners(deployment, deployment.hosts["scale-load1"])
    assert {(r.protocol, r.ports.start, r.ports.end) for r in rules} == {("udp", 32768, 60999), ("tcp", 32768, 60999)}
    senders = {h.private_address for h in deployment.hosts_with("registrar", "media", "turn", "sfu")}
    assert all(set(r.sources) == senders for r in rules)
    assert deployment.hosts["scale-db1"].private_address not in rules[0].sources


def test_turn_hosts_may_relay_to_the_load_generators_echo_peers(project_copy):
    deployment = _scale(project_copy)
    allowed = turn.allowed_peers(deployment)
    assert IPv4Network("198.18.40.71/32") in allowed and IPv4Network("198.18.40.72/32") in allowed


def test_a_loadgen_host_with_another_role_is_refused_before_any_host_is_touched(project_copy):
    path = project_copy / "inventories/scale.py"
    path.write_text(path.read_text().replace('loadgen = [_host("scale-load1"), _host("scale-load2")]',
                                             'loadgen = [_host("scale-sip1")]'))
    with pytest.raises(ConfigError) as caught:
        _scale(project_copy)
    assert "scale-sip1" in str(caught.value) and "a loadgen host carries other roles too" in str(caught.value)


def test_the_worker_unit_runs_locust_from_the_loadgen_venv_as_its_account_and_cleans_its_files(project_copy):
    deployment = _scale(project_copy)
    unit = loadgen.config_files(deployment, deployment.hosts["scale-load1"])["unit"].render()
    assert "User=rtcstack-load" in unit and "EnvironmentFile=/run/rtcstack-load/%i.env" in unit
    assert "ExecStart=/opt/rtcstack/loadgen/bin/python -m locust -f ${LOCUSTFILE} --worker" in unit
    assert "ExecStopPost=+/bin/rm -f /run/rtcstack-load/%i.env /run/rtcstack-load/%i.json" in unit
    assert "LimitNOFILE=65536" in unit


def test_a_runs_worker_units_are_named_from_its_report_directory_in_plain_characters():
    from rtcstack.load.runner import run_id

    assert re.fullmatch(r"sip-calls-20261203-101500-[0-9a-f]{4}", run_id("sip_calls-20261203-101500"))
    assert re.fullmatch(r"my-report-d-j-[0-9a-f]{4}", run_id("my report/d@j"))
    assert re.fullmatch(r"run-[0-9a-f]{4}", run_id("@@@")) and run_id("x") != run_id("x")
