"""The files the base deploy renders for a host: one list, used by deploys/base.py and the tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..firewall import rules_for
from ..templating import ConfigFile

if TYPE_CHECKING:
    from ..site import Deployment, Host

#: Packages every host gets.
BASE_PACKAGES = ["ca-certificates", "curl", "iproute2", "netbase", "nftables", "procps", "ssl-cert", "tzdata"]
#: Where the validated nftables ruleset is staged before `nft -c` lets it into /etc/nftables.conf.
NFTABLES_STAGED = "/etc/rtcstack/nftables.conf"


def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    """Every file the base deploy templates, by purpose."""
    apt = deployment.apt
    return {
        "apt_conf": ConfigFile("/etc/apt/apt.conf.d/60rtcstack", "base/etc/apt/apt.conf.d/60rtcstack.j2",
                               {"install_recommends": apt.install_recommends}),
        "apt_sources": ConfigFile("/etc/apt/sources.list.d/debian.sources",
                                  "base/etc/apt/sources.list.d/debian.sources.j2",
                                  {"mirror": apt.mirror, "security_mirror": apt.security_mirror}),
        "journald": ConfigFile("/etc/systemd/journald.conf.d/60-rtcstack.conf",
                               "base/etc/systemd/journald.conf.d/60-rtcstack.conf.j2",
                               {"max_use": deployment.system.journald_max_use}),
        "sysctl": ConfigFile("/etc/sysctl.d/60-rtcstack.conf", "base/etc/sysctl.d/60-rtcstack.conf.j2",
                             {"channels": deployment.channels, "sysctls": deployment.sysctls(host)}),
        "nftables": ConfigFile(NFTABLES_STAGED, "base/etc/nftables.conf.j2",
                               {"host": host.name, "roles": ", ".join(host.roles) or "none",
                                "rules": rules_for(deployment, host)}, mode="600",
                               installed="/etc/nftables.conf", installed_mode="644"),
    }
