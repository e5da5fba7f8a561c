"""Firewall rules derived from the model, and the same rules read back from nft's JSON."""

import shutil
import subprocess

import pytest

from rtcstack.firewall import rules_for, rules_from_nft_json
from rtcstack.infra.base import config_files
from rtcstack.site import load


def test_firewall_rules_open_exactly_the_listeners(project_copy):
    """media1 opens ssh, its RTP range to all, and the control port to the registrar only; the voicemail beside
    it takes SIP from the registrar, RTP from media hosts (rtpengine) and its API from the portal host."""
    deployment = load(project_copy / "inventories/lab.py")
    rules = {r.key for r in rules_for(deployment, deployment.hosts["media1"])}
    assert rules == {("tcp", "22", ()), ("udp", "30000-31499", ()), ("udp", "2223", ("198.18.10.12",)),
                     ("udp", "5070", ("198.18.10.12",)), ("udp", "28000-28101", ("198.18.10.13",)),
                     ("tcp", "8085", ("198.18.10.16",))}


def test_firewall_rules_read_back_from_nft_json():
    """The parser understands single ports, ranges and source sets as nft prints them."""
    document = {"nftables": [
        {"rule": {"family": "inet", "table": "rtcstack", "chain": "input", "comment": "ssh", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 22}},
            {"accept": None}]}},
        {"rule": {"family": "inet", "table": "rtcstack", "chain": "input", "comment": "pg", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                       "right": {"set": ["198.18.10.16", "198.18.10.12"]}}},
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 5432}},
            {"accept": None}]}},
        {"rule": {"family": "inet", "table": "rtcstack", "chain": "input", "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}},
                       "right": {"range": [30000, 31499]}}},
            {"accept": None}]}},
    ]}
    assert [r.key for r in rules_from_nft_json(document)] == [
        ("tcp", "22", ()), ("tcp", "5432", ("198.18.10.12", "198.18.10.16")), ("udp", "30000-31499", ())]


@pytest.mark.skipif(shutil.which("nft") is None, reason="nft is not installed (.ci/run installs nftables)")
def test_firewall_rendered_ruleset_parses_in_nft(project_copy, tmp_path):
    """The rendered ruleset passes `nft -c` and nft's own reading equals the derived rules."""
    deployment = load(project_copy / "inventories/single.py")
    host = deployment.hosts["aio1"]
    path = tmp_path / "nftables.conf"
    path.write_text(config_files(deployment, host)["nftables"].render().replace("inet rtcstack", "inet rtcstack_test"))
    check = subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
