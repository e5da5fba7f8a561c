"""What the base deploy promises on every host, checked on the host itself with testinfra."""

import json

import pytest

from rtcstack.infra.base import BASE_PACKAGES
from rtcstack.firewall import rules_for, rules_from_nft_json

pytestmark = pytest.mark.integration


def test_firewall_ruleset_equals_the_model(target):
    """The live nftables input chain opens exactly the ports (and sources) the model derives."""
    live = json.loads(target.remote.check_output("nft -j list table inet rtcstack"))
    assert {r.key for r in rules_from_nft_json(live)} == {r.key for r in rules_for(target.deployment, target.host)}


def test_firewall_drops_inbound_by_default(target):
    """The input chain's policy is drop, and nftables loads the same ruleset at boot."""
    assert "policy drop;" in target.remote.check_output("nft list chain inet rtcstack input")
    nftables = target.remote.service("nftables")
    assert nftables.is_enabled
    boot = target.remote.file("/etc/nftables.conf")
    assert boot.content_string == target.remote.file("/etc/rtcstack/nftables.conf").content_string


@pytest.mark.parametrize("package", BASE_PACKAGES)
def test_base_package_installed(target, package):
    """Every base package is installed."""
    assert target.remote.package(package).is_installed


def test_service_accounts_exist_without_login(target):
    """rtcstack's own services get system accounts that cannot log in."""
    for account in target.deployment.service_accounts(target.host):
        user = target.remote.user(account)
        assert user.exists and user.uid < 1000 and user.shell == "/usr/sbin/nologin"


def test_tls_private_key_readable_only_by_root_and_ssl_cert(target):
    """The host key is 0640 root:ssl-cert; certificates are world-readable."""
    key = target.remote.file("/etc/rtcstack/tls/host.key")
    assert (key.user, key.group, key.mode) == ("root", "ssl-cert", 0o640)
    for name in ("host.crt", "ca.crt"):
        assert target.remote.file(f"/etc/rtcstack/tls/{name}").mode == 0o644


def test_timezone_follows_settings(target):
    """/etc/localtime points at the configured zone."""
    zone = target.deployment.system.timezone
    assert target.remote.file("/etc/localtime").linked_to == f"/usr/share/zoneinfo/{zone}"


def test_journald_limit_follows_settings(target):
    """journald's drop-in carries the configured size."""
    text = target.remote.file("/etc/systemd/journald.conf.d/60-rtcstack.conf").content_string
    assert f"SystemMaxUse={target.deployment.system.journald_max_use}" in text


def test_kernel_tuning_applied_or_skipped_in_containers(target):
    """Outside containers the sysctls are live; inside, the file is absent (they cannot apply)."""
    virt = target.remote.run("systemd-detect-virt --container").stdout.strip()
    tuning = target.remote.file("/etc/sysctl.d/60-rtcstack.conf")
    if virt and virt != "none":
        assert not tuning.exists
        return
    for key, value in target.deployment.sysctls(target.host).items():
        assert int(target.remote.check_output(f"sysctl -n {key}")) == value
