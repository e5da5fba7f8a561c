"""The lab's mail and SMS, read and reset from the tests (relay tests, and the links service's tests of its
invitations): the relay host's catch-all Maildir and the SMS sink's request log.

Every function takes `lab`: a lab object with a `site` (MediaLab, SipLab), a `Site`, an inventory path
("inventories/lab.py"), or the name of a lab container that is a relay host ("web1", "aio1", "cloud1").
Commands run on the relay host through pyinfra's connectors, as the other integration helpers do.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import shlex
from email.message import EmailMessage
from functools import cache
from pathlib import Path

from rtcstack.roles.relay import SMS_SINK_LOG, SMS_SINK_SERVICE
from rtcstack.runtime.remote import RemoteHost, connect
from rtcstack.site import Host, Site
from tests import PROJECT_ROOT

#: The inventories whose hosts are lab containers: a container name is looked up in these.
LAB_INVENTORIES = ("inventories/lab.py", "inventories/single.py", "inventories/cloud.py")


@cache
def _site(inventory: str) -> Site:
    return Site.load(PROJECT_ROOT / inventory if not Path(inventory).is_absolute() else inventory)


def _site_of(lab) -> Site:
    if isinstance(lab, Site):
        return lab
    if hasattr(lab, "site"):
        return lab.site
    name = str(lab)
    if name.endswith(".py"):
        return _site(name)
    for inventory in LAB_INVENTORIES:
        if (PROJECT_ROOT / inventory).is_file():
            site = _site(inventory)
            if name in site.deployment.hosts and "relay" in site.deployment.hosts[name].roles:
                return site
    raise ValueError(f"{name} is no relay host of {', '.join(LAB_INVENTORIES)}")


def relay_host(lab, index: int = 0) -> tuple[Site, Host, RemoteHost]:
    """The lab's relay host (the first, or the index-th): its Site, its model and a connection to it."""
    site = _site_of(lab)
    host = site.deployment.hosts_with("relay")[index]
    return site, host, connect(site, [host.name])[host.name]


def _maildir(lab, index: int = 0) -> tuple[RemoteHost, str]:
    site, _, remote = relay_host(lab, index)
    mailbox = site.deployment.relay_mailbox
    if mailbox is None:
        raise ValueError(f"{site.path.name} keeps no mail: relay.catch_all_mailbox is not set")
    return remote, mailbox


def mailbox_messages(lab, index: int = 0) -> list[EmailMessage]:
    """Every message in the catch-all Maildir (new/ and cur/) of the (index-th) relay host, oldest first."""
    remote, maildir = _maildir(lab, index)
    # Postfix makes the Maildir with the first message it delivers: none yet, no messages.
    listing = remote.run(f"cd {shlex.quote(maildir)} 2>/dev/null || exit 0; for f in $(ls -1 -rt --full-time new/* cur/* 2>/dev/null "
                         f"| awk '{{print $NF}}'); do printf '%s ' \"$f\"; base64 -w0 \"$f\"; echo; done")
    out = []
    for line in filter(None, listing.splitlines()):
        _, encoded = line.split(" ", 1)
        out.append(email.message_from_bytes(base64.b64decode(encoded), policy=email.policy.default))
    return out


def clear_mailbox(lab) -> None:
    """Empty the catch-all Maildir (the directories stay)."""
    remote, maildir = _maildir(lab)
    remote.run(f"find {shlex.quote(maildir)}new {shlex.quote(maildir)}cur -type f -delete 2>/dev/null || true")


def sms_requests(lab) -> list[dict]:
    """Every request the SMS sink recorded, oldest first: time, method, path, query, headers, form, json, id."""
    _, _, remote = relay_host(lab)
    text = remote.run(f"cat {SMS_SINK_LOG} 2>/dev/null || true")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def clear_sms(lab) -> None:
    """Forget the recorded requests (the file keeps its owner, so the sink still appends to it)."""
    _, _, remote = relay_host(lab)
    remote.run(f"if [ -f {SMS_SINK_LOG} ]; then truncate -s 0 {SMS_SINK_LOG}; fi")


def stop_sms_sink(lab) -> None:
    """Stop the SMS sink: the gateway is down (connections are refused)."""
    _, _, remote = relay_host(lab)
    remote.run(f"systemctl stop {SMS_SINK_SERVICE}.service")


def start_sms_sink(lab, timeout_seconds: float = 10) -> None:
    """Start the SMS sink again and wait until it listens."""
    site, host, remote = relay_host(lab)
    listen = f"{host.private_address}:{site.deployment.relay.sms_sink_port}"
    tries = int(timeout_seconds * 10)
    remote.run(f"systemctl start {SMS_SINK_SERVICE}.service; for i in $(seq {tries}); do "
               f"ss -lntH | grep -q ' {listen} ' && exit 0; sleep 0.1; done; "
               f"echo 'the SMS sink does not listen on {listen}' >&2; exit 1")
