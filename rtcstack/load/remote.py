"""Locust workers on the inventory's loadgen hosts, for one run of `rtcstack load --workers N`.

Each worker is an instance RUN-N of the hosts' `rtcstack-load-worker@` unit (roles/loadgen.py). Before it
starts, its context file (test accounts, secrets: mode 640, group of the workers' account) and its environment
file go to the host's /run, over the same connection as the deploy's (SSH or docker); the unit removes both
when it stops. After the run each worker's journal lands in the report directory as worker-HOST-N.log.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..roles.base import TLS_DIR
from ..roles.loadgen import ACCOUNT, LOCUSTFILES, RUN_DIR, WORKER_UNIT, placement
from ..runtime.remote import RemoteError, RemoteHost, connect
from ..site import Deployment, Site
from .context import LoadContext


class RemoteWorkersError(RuntimeError):
    pass


def master_address(deployment: Deployment, port: int) -> str:
    """Where the loadgen hosts reach the master: loadgen.master_address, else this machine's address towards
    the first loadgen host."""
    from ..protocols.sip.transport import local_address_towards

    if deployment.loadgen.master_address:
        return deployment.loadgen.master_address
    first = deployment.hosts_with("loadgen")[0]
    return local_address_towards(str(first.private_address), port)


@dataclass
class RemoteWorkers:
    site: Site
    deployment: Deployment
    count: int
    locustfile: str  #: the scenario's file name (the hosts have the wheel's copy)
    master_host: str
    master_port: int
    run_id: str
    log: callable = print
    started: list[tuple[RemoteHost, str]] = field(default_factory=list)

    @property
    def hosts(self) -> list[str]:
        return [h.name for h in placement(self.deployment, self.count)]

    def instances(self) -> list[tuple[str, str]]:
        """(host, instance name) of each worker."""
        return [(host, f"{self.run_id}-{n}") for n, host in enumerate(self.hosts)]

    def start(self, context: LoadContext) -> None:
        """Write each worker's files and start its unit; the context names the hosts' own CA file."""
        remote = connect(self.site, sorted(set(self.hosts)))
        data = json.dumps(asdict(replace(context, cafile=f"{TLS_DIR}/ca.crt", report_dir=RUN_DIR)))
        for host, instance in self.instances():
            env = "\n".join([f"RTCSTACK_LOAD_CONTEXT={RUN_DIR}/{instance}.json",
                             f"LOCUSTFILE={LOCUSTFILES}/{self.locustfile}",
                             f"MASTER_HOST={self.master_host}", f"MASTER_PORT={self.master_port}", ""])
            files = f"{RUN_DIR}/{instance}"
            try:
                remote[host].run(
                    f"install -d -m 750 -g {ACCOUNT} {RUN_DIR} && umask 027 && cat > {files}.json && "
                    f"chgrp {ACCOUNT} {files}.json && printf %s {shlex.quote(env)} > {files}.env && "
                    f"systemctl start {WORKER_UNIT}{instance}.service", stdin=data)
            except RemoteError as exc:
                raise RemoteWorkersError(
                    f"could not start the load worker on {host}: {exc}. Is the host deployed with the loadgen "
                    f"role (`rtcstack deploy {self.site.path}`)?") from None
            self.started.append((remote[host], instance))
        where = ", ".join(f"{h} ({self.hosts.count(h)})" for h in sorted(set(self.hosts)))
        self.log(f"{self.count} worker(s) started on {where}; master {self.master_host}:{self.master_port}")

    def stop(self, report_dir: Path) -> list[str]:
        """Collect each worker's journal into the report, stop what still runs; returns the workers that failed."""
        failed = []
        for remote, instance in self.started:
            unit = f"{WORKER_UNIT}{instance}.service"
            for _ in range(30):  # a worker quits when the master does: give it the time to say goodbye
                state = remote.run(f"systemctl is-active {unit}", check=False).strip()
                if state not in ("active", "deactivating"):
                    break
                time.sleep(0.5)
            result = remote.run(f"systemctl show -p Result --value {unit}; systemctl stop {unit}; "
                                f"journalctl -u {unit} --no-pager -o short-iso", check=False)
            status, _, journal = result.partition("\n")
            (report_dir / f"worker-{remote.name}-{instance.rsplit('-', 1)[1]}.log").write_text(journal + "\n")
            if status.strip() not in ("success", ""):
                failed.append(f"{remote.name} ({status.strip()})")
            remote.run(f"systemctl reset-failed {unit}", check=False)
        self.started.clear()
        return failed
