"""relay role: Postfix from Debian (preseeded "No configuration", so apt neither prompts nor writes a config);
main.cf and master.cf staged and checked with `postfix check` before they reach /etc/postfix; Postfix restarts
when one of them changed (a new inet_interfaces needs it) and reloads on a changed catch-all map. With relay.catch_all_mailbox (labs) the
mailbox's account exists first; with relay.sms_sink_port the SMS sink runs, else it is removed."""

from pyinfra import host
from pyinfra.operations import files, server

from rtcstack.infra.context import deployment, this_host
from rtcstack.infra.facts import installed_packages
from rtcstack.infra.host_files import HostFiles
from rtcstack.infra.service import CertificateReload, Service
from rtcstack.roles.relay import (
    MAILBOX_HOMES,
    POSTFIX_SERVICE,
    POSTFIX_STAGED,
    SMS_SINK_SCRIPT,
    SMS_SINK_SERVICE,
    SMS_SINK_STATE,
    SMS_SINK_UNIT,
    config_files,
    sms_sink_files,
)

dep, me = deployment(), this_host()
mailbox = dep.relay.catch_all_mailbox
wanted = HostFiles(SMS_SINK_UNIT, units=(SMS_SINK_SERVICE,),
                   accounts=(*((mailbox,) if mailbox else ()), SMS_SINK_SERVICE))

if "postfix" not in installed_packages():
    server.shell(name="Preseed Postfix: no configuration (rtcstack writes it)", commands=[
        "echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections"])


def account(name: str, home: str, what: str) -> None:
    """A system account whose home (its own, mode 700, no skeleton files) holds its data."""
    home_shell, _, owner = wanted.accounts.get(name) or ("", set(), "")
    if home_shell == f"{home}:/usr/sbin/nologin" and owner == name:
        return
    server.group(name=f"Group {name}", group=name, system=True)
    server.user(name=f"{what} account {name}", user=name, group=name, system=True, shell="/usr/sbin/nologin",
                home=home, create_home=False)
    files.directory(name=f"{what} directory {home}", path=home, user=name, group=name, mode="700")


if mailbox:
    account(mailbox, f"{MAILBOX_HOMES}/{mailbox}", "Catch-all mailbox")

Service("Postfix", POSTFIX_SERVICE, config_files(dep, me), packages=("postfix",),
        check=f"postfix -c {POSTFIX_STAGED} check",
        certificate=CertificateReload.reload()).deploy()

sink = sms_sink_files(dep, me)
if sink:
    account(SMS_SINK_SERVICE, SMS_SINK_STATE, "SMS sink")
    Service("SMS sink", SMS_SINK_SERVICE, sink, packages=("python3",), mask=False).deploy()
elif wanted.sha1(SMS_SINK_UNIT) is not None:
    server.shell(name="Remove the SMS sink (relay.sms_sink_port is 0)", commands=[
        f"systemctl disable --now {SMS_SINK_SERVICE}.service",
        f"rm -f {SMS_SINK_UNIT} {SMS_SINK_SCRIPT}",
        f"rm -rf /etc/systemd/system/{SMS_SINK_SERVICE}.service.d", "systemctl daemon-reload"])
