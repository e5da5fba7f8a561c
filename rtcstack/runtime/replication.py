"""PostgreSQL replication as an operator runs it (`rtcstack database status|promote|rejoin`): which host takes
writes, how far each standby is, failing over or switching over to a standby, and making a former primary a
standby of the new one. PostgreSQL's own mechanisms only: pg_promote(), standby.signal, pg_basebackup."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from ..roles.database import (
    FENCED_MARK, PG_DATA, PG_SERVICE, STANDBY_CONF, slot_name, standby_file, standby_rebuild_command,
)
from ..site import Host, Site
from .database import DatabaseUnavailable, writable
from .remote import RemoteError, RemoteHost, connect

PSQL = "runuser -u postgres -- psql -XAtq"


@dataclass
class NodeState:
    host: str
    reachable: bool
    role: str  # primary, standby, fenced, down
    detail: str = ""


def _remote(site: Site, name: str) -> RemoteHost | None:
    try:
        return connect(site, [name])[name]
    except Exception:  # a host that is down
        return None


def _in_recovery(remote: RemoteHost) -> bool | None:
    try:
        return remote.run(f"{PSQL} -c 'SELECT pg_is_in_recovery()'").strip() == "t"
    except RemoteError:
        return None  # PostgreSQL is not running


def states(site: Site) -> list[NodeState]:
    """Every database host: reachable, primary or standby (or fenced, or down), and what it says of replication."""
    out = []
    for host in site.deployment.hosts_with("database"):
        remote = _remote(site, host.name)
        if remote is None:
            out.append(NodeState(host.name, False, "down", "not reachable"))
            continue
        recovery = _in_recovery(remote)
        fenced = remote.run(f"test -e {PG_DATA}/{FENCED_MARK} && echo yes || echo no").strip() == "yes"
        if recovery is None:
            out.append(NodeState(host.name, True, "down", "PostgreSQL is not running"))
        elif not recovery:
            sent = remote.run(f"{PSQL} -F ' ' -c \"SELECT application_name, state, "
                              f"pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) FROM pg_stat_replication\"")
            standbys = ", ".join(f"{n} {s} ({int(float(lag or 0))} bytes behind)" for n, s, lag in
                                 (line.split(" ") for line in sent.splitlines() if line.strip()))
            out.append(NodeState(host.name, True, "primary", f"streaming to: {standbys or 'no standby'}"))
        else:
            receiving = remote.run(f"{PSQL} -c 'SELECT status FROM pg_stat_wal_receiver'").strip()
            out.append(NodeState(host.name, True, "fenced" if fenced else "standby",
                                 "read-only former primary: `rtcstack database rejoin` makes it a standby" if fenced
                                 else f"wal receiver: {receiving or 'not connected'}"))
    return out


def _fence(remote: RemoteHost) -> None:
    """A primary made read-only for good: restarted with standby.signal (no primary to follow), marked as fenced."""
    remote.run(f"systemctl stop {PG_SERVICE}; runuser -u postgres -- touch {PG_DATA}/standby.signal "
               f"{PG_DATA}/{FENCED_MARK}; systemctl start {PG_SERVICE}")


def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise DatabaseUnavailable(f"{what} did not happen within {seconds:.0f} s")
        time.sleep(0.5)


def promote(site: Site, name: str, old_primary_gone: bool = False, say=print) -> None:
    """Make standby `name` the primary. Every other primary is fenced first (switchover: the standby has what it
    wrote once it stops); one that cannot be reached must be gone for good (`old_primary_gone`), or two primaries
    would take writes."""
    hosts = {h.name: h for h in site.deployment.hosts_with("database")}
    if name not in hosts:
        raise DatabaseUnavailable(f"{name} is not a database host of {site.path.name} ({', '.join(hosts)})")
    target = _remote(site, name)
    if target is None or _in_recovery(target) is not True:
        raise DatabaseUnavailable(f"{name} is not a running standby: nothing to promote")
    for other in hosts:
        if other == name:
            continue
        remote = _remote(site, other)
        recovery = _in_recovery(remote) if remote is not None else None
        if recovery is False:
            say(f"fencing {other}: it restarts read-only and stays so (marked {FENCED_MARK})")
            _fence(remote)
        elif recovery is None and not old_primary_gone:
            raise DatabaseUnavailable(
                f"{other} cannot be asked (host or PostgreSQL down), so it cannot be fenced: if it was the primary and "
                f"came back, it would take writes beside {name}. Make sure it stays down (power it off), then run the "
                "command again with --old-primary-gone")
    say(f"promoting {name}")
    target.run(f"{PSQL} -c 'SELECT pg_promote(true, 60)'")
    _wait(lambda: _in_recovery(target) is False, 60, f"{name} taking writes")
    # A primary follows nobody: its pointer to the old primary goes (as a deploy would remove it).
    target.run(f"rm -f {STANDBY_CONF}; systemctl reload {PG_SERVICE}")
    say(f"{name} is the primary: services reconnect to it (their host lists ask for the one taking writes). Next: "
        f"list {name} first in the database group and deploy, or run `rtcstack database rejoin` for each other host")


def rejoin(site: Site, name: str, say=print) -> None:
    """Make `name` a standby of the host taking writes now: its pointer to the primary, a slot there, a fresh base
    backup (the refusal to replace a live primary stays: fence it with `promote` first)."""
    from ..templating import render

    hosts = {h.name: h for h in site.deployment.hosts_with("database")}
    if name not in hosts:
        raise DatabaseUnavailable(f"{name} is not a database host of {site.path.name} ({', '.join(hosts)})")
    source = _writable_host(site, hosts)
    if source.name == name:
        raise DatabaseUnavailable(f"{name} is the primary: rejoin the other database hosts to it")
    host: Host = hosts[name]
    primary, remote = connect(site, [source.name])[source.name], connect(site, [name])[name]
    slot = slot_name(host)
    primary.run(f"{PSQL} -c \"SELECT pg_create_physical_replication_slot('{slot}') WHERE NOT EXISTS "
                f"(SELECT 1 FROM pg_replication_slots WHERE slot_name = '{slot}')\"")
    pointer = standby_file(site.deployment, host, source)
    remote.run(f"cat > {pointer.dest} && chown postgres:postgres {pointer.dest} && chmod 644 {pointer.dest}",
               stdin=render(pointer.template, **pointer.context))
    say(f"copying {source.name}'s database to {name} (pg_basebackup)")
    remote.run(standby_rebuild_command(site.deployment, host, source))
    _wait(lambda: remote.run(f"{PSQL} -c 'SELECT status FROM pg_stat_wal_receiver'").strip() == "streaming", 60,
          f"{name} streaming from {source.name}")
    say(f"{name} streams from {source.name}")


def _writable_host(site: Site, hosts: dict[str, Host]) -> Host:
    return hosts[writable(site, list(hosts)).name]
