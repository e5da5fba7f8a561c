"""relay role: Postfix relaying the platform's mail (invitations, portal notices) to the operator's
smarthost; SMTP on the private address and loopback, reachable from links and portal hosts only. In a lab
it instead delivers every message, whatever its recipient, into one local Maildir (`catch_all_mailbox`),
and runs an HTTP sink standing in for the SMS gateway (`sms_sink_port`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ..config.problems import Problem
from ..config.settings import Int, Port, Settings
from ..templating import ConfigFile
from .base import Role, listen

if TYPE_CHECKING:
    from ..site.deployment import Deployment, Host

#: Debian runs Postfix as the instance `postfix@-` (the `postfix` unit is a wrapper without a process).
POSTFIX_SERVICE = "postfix@-"
#: Where main.cf and master.cf are staged and checked (`postfix -c DIR check`) before /etc/postfix.
POSTFIX_STAGED = "/etc/rtcstack/postfix"
#: The recipient regexp map that sends every message to the catch-all mailbox.
CATCH_ALL_MAP = "/etc/postfix/rtcstack-catch-all.regexp"
#: Home directories of catch-all mailbox accounts: the Maildir is `<home>/Maildir/` (new/, cur/, tmp/).
MAILBOX_HOMES = "/var/mail"

SMS_SINK_SERVICE = "rtcstack-sms-sink"
SMS_SINK_SCRIPT = "/usr/local/lib/rtcstack/sms_sink.py"
SMS_SINK_STATE = f"/var/lib/{SMS_SINK_SERVICE}"
#: One JSON object per request the sink received, oldest first.
SMS_SINK_LOG = f"{SMS_SINK_STATE}/messages.jsonl"
SMS_SINK_UNIT = f"/etc/systemd/system/{SMS_SINK_SERVICE}.service"
#: Bodies larger than this are answered 413 and not read.
SMS_SINK_MAX_BODY = 64 * 1024


class RelaySettings(Settings):
    """Postfix, the mail relay (and, in labs, the SMS gateway's stand-in)."""

    smtp_port: Port = Field(25, description="SMTP port on the private address (links and portal hosts only) and "
                                            "on loopback.")
    smarthost: str = Field(
        "", pattern=r"^$|^(\[[A-Za-z0-9.:-]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$",
        description="Where mail goes next, as Postfix's relayhost (`[host]:port`, brackets: no MX lookup); "
                    "empty: deliver directly to each recipient domain's MX.")
    catch_all_mailbox: str = Field(
        "", pattern=r"^$|^[a-z_][a-z0-9_-]{0,30}$",
        description="Labs: every message, whatever its recipient, is delivered to this local account's Maildir "
                    f"({MAILBOX_HOMES}/NAME/Maildir/) instead of being relayed; nothing leaves the host. "
                    "Empty: off (mail is relayed).")
    sms_sink_port: Int = Field(
        0, ge=0, le=65535,
        description="Labs: port of an HTTP sink standing in for the SMS gateway on the private address (links and "
                    f"portal hosts only); it records each request as a JSON line in {SMS_SINK_LOG} and answers "
                    "200. 0: off (no sink).")


def clients(deployment: Deployment):
    """The hosts that send mail and SMS through the relay: links and portal."""
    return deployment.addresses_of("links", "portal")


def mailbox(deployment: Deployment) -> str | None:
    """The catch-all Maildir (a directory ending in /), or None when mail is relayed."""
    name = deployment.relay.catch_all_mailbox
    return f"{MAILBOX_HOMES}/{name}/Maildir/" if name else None


def listeners(deployment: Deployment, host: Host):
    r = deployment.relay
    out = listen("smtp", "tcp", r.smtp_port, "relay.smtp_port", clients(deployment))
    if r.sms_sink_port:
        out += listen("sms-sink", "tcp", r.sms_sink_port, "relay.sms_sink_port", clients(deployment))
    return out


def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    r = deployment.relay
    postfix = {"host": host.name, "hostname": deployment.dns_name(host), "address": str(host.private_address),
               "smtp_port": r.smtp_port, "smarthost": r.smarthost, "mynetworks": [str(a) for a in clients(deployment)],
               "catch_all": r.catch_all_mailbox, "catch_all_map": CATCH_ALL_MAP}
    out = {
        "main": ConfigFile(f"{POSTFIX_STAGED}/main.cf", "relay/etc/postfix/main.cf.j2", postfix,
                           installed="/etc/postfix/main.cf"),
        "master": ConfigFile(f"{POSTFIX_STAGED}/master.cf", "relay/etc/postfix/master.cf.j2", postfix,
                             installed="/etc/postfix/master.cf"),
        "dropin": ConfigFile(f"/etc/systemd/system/{POSTFIX_SERVICE}.service.d/60-rtcstack.conf",
                             "relay/etc/systemd/system/postfix@-.service.d/60-rtcstack.conf.j2", postfix),
    }
    if r.catch_all_mailbox:
        out["catch_all"] = ConfigFile(CATCH_ALL_MAP, "relay/etc/postfix/rtcstack-catch-all.regexp.j2", postfix,
                                      effect="reload")
    return out


def sms_sink_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    """The SMS sink's script and unit (none when relay.sms_sink_port is 0)."""
    port = deployment.relay.sms_sink_port
    if not port:
        return {}
    context = {"host": host.name, "service": SMS_SINK_SERVICE, "script": SMS_SINK_SCRIPT, "state": SMS_SINK_STATE,
               "log": SMS_SINK_LOG, "address": str(host.private_address), "port": port,
               "max_body": SMS_SINK_MAX_BODY}
    return {
        "script": ConfigFile(SMS_SINK_SCRIPT, f"relay{SMS_SINK_SCRIPT}.j2", context),
        "unit": ConfigFile(SMS_SINK_UNIT, f"relay{SMS_SINK_UNIT}.j2", context),
    }


def problems(deployment: Deployment) -> list[Problem]:
    r = deployment.relay
    if r.catch_all_mailbox and r.smarthost:
        return [Problem("relay.smarthost", r.smarthost,
                        f"is never used: relay.catch_all_mailbox ({r.catch_all_mailbox!r}) keeps every message on the host",
                        "empty relay.catch_all_mailbox to relay mail, or empty relay.smarthost")]
    return []


ROLE = Role(name="relay", settings=RelaySettings, units=(POSTFIX_SERVICE,), listeners=listeners,
            config_files=config_files, problems=problems, derived={"mailbox": mailbox})
