"""Base deploy for every host: apt, packages, time zone, journald, accounts, kernel tuning, TLS, firewall."""


from pyinfra import host, logger
from pyinfra.operations import apt, files, server, systemd

from rtcstack.infra.base import BASE_PACKAGES, NFTABLES_STAGED, config_files
from rtcstack.infra.context import deployment, host_tls, site, this_host
from rtcstack.infra.facts import installed_packages
from rtcstack.infra.host_files import HostFiles, checked_install
from rtcstack.infra.service import ensure_running
from rtcstack.roles.base import TLS_DIR

dep = deployment()
me = this_host()
conf = config_files(dep, me)


LAB_CA = f"/usr/local/share/ca-certificates/rtcstack-{site().name}-ca.crt"
accounts = dep.service_accounts(me)
# Whether this is a container (no kernel tuning there) and where /etc/localtime points: read with the files.
VIRT, LOCALTIME = "systemd-detect-virt --container", "readlink /etc/localtime"
wanted = HostFiles.for_configs(conf, "/etc/apt/sources.list", "/etc/timezone", f"{TLS_DIR}/ca.crt",
                               f"{TLS_DIR}/host.crt", f"{TLS_DIR}/host.key", LAB_CA, units=("nftables",),
                               accounts=tuple(accounts), probes=(VIRT, LOCALTIME))
virt, localtime = wanted.probes[VIRT], wanted.probes[LOCALTIME]


def put(purpose: str):
    return wanted.config(conf[purpose])


# --- apt ----------------------------------------------------------------------------------------
put("apt_conf")
sources = put("apt_sources")
legacy = wanted.put("Point /etc/apt/sources.list at debian.sources",
                    "# Managed by rtcstack: sources are in /etc/apt/sources.list.d/debian.sources\n",
                    "/etc/apt/sources.list")
installed = installed_packages()
missing = [name for name in BASE_PACKAGES if name not in installed]
apt.update(name="Update apt lists (sources changed or packages missing)",
           _if=lambda: bool(missing) or sources.did_change() or legacy.did_change())
if missing:
    apt.packages(name="Install base packages", packages=BASE_PACKAGES)

# --- time zone and journald ---------------------------------------------------------------------
zone = dep.system.timezone
if localtime.strip() != f"/usr/share/zoneinfo/{zone}":
    files.link(name=f"Set time zone {zone}", path="/etc/localtime", target=f"/usr/share/zoneinfo/{zone}")
wanted.put("Write /etc/timezone", f"{zone}\n", "/etc/timezone")
journald = put("journald")
systemd.service(name="Restart journald (its limits changed)", service="systemd-journald", restarted=True,
                _if=journald.did_change)

# --- service accounts ---------------------------------------------------------------------------
for account in accounts:
    home_shell, groups, home_owner = wanted.accounts.get(account) or ("", set(), "")
    if home_shell == f"/var/lib/{account}:/usr/sbin/nologin" and account in groups and home_owner == account:
        continue  # exists as wanted, its home directory its own: no operation, no fact
    server.group(name=f"Group {account}", group=account, system=True)
    server.user(name=f"Service account {account}", user=account, group=account, system=True,
                shell="/usr/sbin/nologin", home=f"/var/lib/{account}", create_home=True)

# --- kernel tuning ------------------------------------------------------------------------------
if virt and virt != "none":
    logger.warning(f"{host.name}: kernel tuning skipped: sysctls are not namespaced inside a container ({virt})")
else:
    sysctl = put("sysctl")
    server.shell(name="Apply kernel tuning", commands=["sysctl -p /etc/sysctl.d/60-rtcstack.conf"],
                 _if=sysctl.did_change)

# --- TLS material from the PKI ------------------------------------------------------------------
tls = host_tls()
wanted.put("Install the CA certificate", tls.ca, f"{TLS_DIR}/ca.crt")
wanted.put("Install the host certificate", tls.certificate, f"{TLS_DIR}/host.crt")
wanted.put("Install the host private key", tls.key, f"{TLS_DIR}/host.key", mode="640", group="ssl-cert")
if me.tls_certificate_file is None:
    trusted = wanted.put("Trust the lab CA", tls.ca, LAB_CA)
    server.shell(name="Update the trusted CA bundle", commands=["update-ca-certificates"], _if=trusted.did_change)

# --- firewall -----------------------------------------------------------------------------------
ruleset = checked_install(wanted, [conf["nftables"]], f"nft -c -f {NFTABLES_STAGED}",
                          "Check the ruleset with nft -c, then install /etc/nftables.conf")
ensure_running(wanted, "nftables", "nftables")
systemd.service(name="Reload nftables (ruleset changed)", service="nftables", reloaded=True, _if=ruleset.did_change)
