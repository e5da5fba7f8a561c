"""loadgen role: machines that generate load for `rtcstack load --workers N`. They get rtcstack's wheel with
Locust (the wheelhouse's `loadgen` extra) in a venv of their own and a systemd template unit; `rtcstack load`
starts one unit instance per Locust worker for the run and removes its files when the unit stops. No daemon
runs between runs.

A worker receives what the platform sends a client: SIP requests from the registrars, RTP from the media hosts,
relayed TURN data from the TURN hosts (to its echo peer) and media from the SFU hosts; the firewall opens the
ephemeral port range, where the clients bind, to those hosts only. TURN hosts may relay to loadgen hosts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from ..config.ports import PortRange
from ..config.problems import Problem
from ..config.settings import Int, Settings
from ..templating import ConfigFile
from .base import Role, listen

if TYPE_CHECKING:
    from ..site.deployment import Deployment, Host

ACCOUNT = "rtcstack-load"
#: The loadgen hosts' venv and wheelhouse (apart from the services' venv: Locust's dependencies are not theirs).
VENV = "/opt/rtcstack/loadgen"
WHEELS = "/opt/rtcstack/loadgen-wheels"
#: The template unit: instance RUN-N is worker N of run RUN, its settings in RUN_DIR/RUN-N.env.
WORKER_UNIT = "rtcstack-load-worker@"
RUN_DIR = "/run/rtcstack-load"
#: Where Debian 12's python3 keeps the venv's packages, and in them the wheel's scenarios.
LOCUSTFILES = f"{VENV}/lib/python3.11/site-packages/rtcstack/share/loadtests"
#: Linux's default ip_local_port_range: where the workers' SIP, RTP and TURN sockets bind (port 0).
EPHEMERAL_PORTS = PortRange(32768, 60999)
#: The roles whose hosts send to a worker's sockets.
SENDERS = ("registrar", "media", "turn", "sfu")


class LoadgenSettings(Settings):
    """Load generator hosts: Locust workers of `rtcstack load --workers N`."""

    master_address: str = Field(
        "", description="Address the loadgen hosts reach the Locust master at (the machine running `rtcstack "
                        "load`, port --master-port); empty: that machine's own address towards the first loadgen "
                        "host, right when it shares a network with them (the labs).")
    max_open_files: Int = Field(65536, ge=1024, le=1048576,
                                description="Open files (sockets) one worker process may hold.")


def listeners(deployment: Deployment, host: Host):
    return listen("load clients", "udp+tcp", EPHEMERAL_PORTS, "loadgen (ephemeral ports)",
                  deployment.addresses_of(*SENDERS))


def placement(deployment: Deployment, workers: int) -> list[Host]:
    """The host of each worker: round robin over the loadgen hosts, in inventory order."""
    hosts = deployment.hosts_with("loadgen")
    return [hosts[n % len(hosts)] for n in range(workers)] if hosts else []


def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
    return {"unit": ConfigFile(f"/etc/systemd/system/{WORKER_UNIT}.service",
                               "loadgen/etc/systemd/system/rtcstack-load-worker@.service.j2",
                               {"account": ACCOUNT, "venv": VENV, "run_dir": RUN_DIR, "host": host.name,
                                "max_open_files": deployment.loadgen.max_open_files})}


def problems(deployment: Deployment) -> list[Problem]:
    return [Problem(f"inventory: {h.name}'s roles", sorted(h.roles), "a loadgen host carries other roles too",
                    f"give load generators hosts of their own (remove {h.name} from the loadgen group or from "
                    f"{', '.join(others)}): a generator on a host it loads measures itself")
            for h in deployment.hosts_with("loadgen") if (others := sorted(set(h.roles) - {"loadgen"}))]


ROLE = Role(name="loadgen", settings=LoadgenSettings, account=ACCOUNT, listeners=listeners,
            config_files=config_files, problems=problems)
