"""The NAT lab's settings and router rules (lab.client_networks)."""

import shutil
import subprocess

import pytest
from pydantic import ValidationError

from rtcstack.config.settings import ClientNetwork, LabSettings
from rtcstack.lab_nat import client_address, one_to_one_ruleset, router_side, ruleset


def _net(**changes) -> dict:
    return {"name": "home", "subnet": "198.18.11.0/24", "router_address": "198.18.10.101", **changes}


def _lab(*networks) -> LabSettings:
    return LabSettings(network="n", subnet="198.18.10.0/24", client_networks=list(networks))


def test_a_client_network_defaults_to_a_cone_nat_forgetting_udp_mappings_after_30_s():
    net = ClientNetwork(**_net())
    assert (net.nat, net.udp_timeout_seconds) == ("cone", 30)
    assert (str(router_side(net)), str(client_address(net))) == ("198.18.11.2", "198.18.11.10")


@pytest.mark.parametrize(("networks", "message"), [
    ([_net(subnet="10.0.0.0/24")], "inside 198.18.0.0/15"),
    ([_net(subnet="198.18.11.0/29")], "at least 16 addresses"),
    ([_net(router_address="198.18.20.1")], "is not on the lab network"),
    ([_net(subnet="198.18.10.128/25")], "overlaps 198.18.10.0/24"),
    ([_net(), _net(name="mobile", router_address="198.18.10.102")], "overlaps 198.18.11.0/24"),
    ([_net(), _net(subnet="198.18.12.0/24")], "each needs its own name"),
    ([_net(nat="full-cone")], "'cone' or 'symmetric'"),
    ([_net(name="Home-1")], "should match pattern"),
    ([_net(udp_timeout_seconds="30")], "valid integer"),
])
def test_a_bad_client_network_is_refused_with_the_reason(networks, message):
    with pytest.raises(ValidationError) as caught:
        _lab(*networks)
    assert message in str(caught.value)


def test_the_symmetric_router_randomizes_ports_and_the_cone_router_does_not():
    cone = ruleset(ClientNetwork(**_net()), "eth1", "eth0")
    symmetric = ruleset(ClientNetwork(**_net(nat="symmetric")), "eth1", "eth0")
    assert 'oifname "eth0" ip saddr 198.18.11.0/24 masquerade\n' in cone
    assert "masquerade random\n" in symmetric
    # nothing the clients did not start is forwarded to them
    assert "policy drop;" in cone and "ct state established,related accept" in cone


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed (.ci/run installs nftables)")
@pytest.mark.parametrize("nat", ["cone", "symmetric"])
def test_the_router_ruleset_parses_in_nft(nat):
    rules = ruleset(ClientNetwork(**_net(nat=nat)), "eth1", "eth0").replace("rtcstack_lab_nat", "rtcstack_lab_nat_test")
    check = subprocess.run(["nft", "-c", "-f", "-"], input=rules, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr


def test_the_public_network_must_be_outside_the_lab_network_with_its_router_on_it():
    with pytest.raises(ValidationError, match="overlaps the lab network"):
        LabSettings(network="n", subnet="198.18.10.0/24",
                    public_network={"subnet": "198.18.10.0/24", "router_address": "198.18.10.100"})
    with pytest.raises(ValidationError, match="is not on the lab network"):
        LabSettings(network="n", subnet="198.18.10.0/24",
                    public_network={"subnet": "198.18.31.0/24", "router_address": "198.18.31.100"})


def test_a_cloud_lab_host_needs_a_public_address_on_the_public_network(project_copy):
    from rtcstack.site import load

    inventory = project_copy / "inventories/cloud.py"
    inventory.write_text(inventory.read_text().replace('"public_address": "198.18.31.11"',
                                                       '"public_address": "198.18.32.11"'))
    from rtcstack.config.problems import ConfigError

    with pytest.raises(ConfigError) as caught:
        load(inventory)
    assert "hosts.cloud1.public_address" in str(caught.value) and "198.18.31.0/24" in str(caught.value)


def test_the_one_to_one_router_maps_each_public_address_both_ways():
    rules = one_to_one_ruleset({"198.18.30.11": "198.18.31.11", "198.18.30.12": "198.18.31.12"})
    assert "dnat ip to ip daddr map { 198.18.31.11 : 198.18.30.11, 198.18.31.12 : 198.18.30.12 }" in rules
    assert "snat ip to ip saddr map { 198.18.30.11 : 198.18.31.11, 198.18.30.12 : 198.18.31.12 }" in rules
    if shutil.which("nft"):
        check = subprocess.run(["nft", "-c", "-f", "-"], input=rules.replace("rtcstack_lab_nat", "rtcstack_lab_nat_t"),
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
