"""Where the Kamailio benchmark runs its hosts and its generator (benchmarks/_load.py `cores_apart`): the lab's
containers on some of this machine's cores, the generator and what it starts on the others, each given back all of
them afterwards."""

import os
import re
import subprocess

import pytest

from benchmarks._load import PINNED, Lab, cores_apart

pytestmark = pytest.mark.integration

INVENTORY = "inventories/lab.py"


def _allowed(text: str) -> set[int]:
    """The CPUs of a Cpus_allowed_list line (`0-1`, `0,2`)."""
    cores = set()
    for part in re.search(r"Cpus_allowed_list:\s*(\S+)", text).group(1).split(","):
        first, _, last = part.partition("-")
        cores.update(range(int(first), int(last or first) + 1))
    return cores


STATUS = "grep Cpus_allowed_list /proc/1/status"  # each container's systemd


def _lab(lab_runner) -> tuple[Lab, list[str], set[int]]:
    """The lab up, its hosts' names and this machine's cores (skipped with one core: nothing to set apart)."""
    lab_runner(INVENTORY)
    cores = set(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("one core: nothing to set apart")
    lab = Lab(INVENTORY)
    return lab, [host.name for host in lab.deployment.hosts.values()], cores


def test_hosts_and_generator_get_cores_of_their_own_and_all_of_them_back(lab_runner):
    lab, hosts, cores = _lab(lab_runner)

    with cores_apart(lab) as where:
        generator = set(os.sched_getaffinity(0))
        started = _allowed(subprocess.run(["grep", "Cpus_allowed_list", "/proc/self/status"], capture_output=True,
                                          text=True, check=True).stdout)
        placed = {name: _allowed(lab.on_host(name, STATUS)) for name in hosts}
    assert generator and started == generator, (generator, started)  # what the generator starts inherits its cores
    for name, allowed in placed.items():
        assert allowed and not allowed & generator and allowed | generator == cores, (name, allowed, generator)
    assert "on CPU" in where and all(name in where for name in hosts), where

    assert set(os.sched_getaffinity(0)) == cores
    assert all(_allowed(lab.on_host(name, STATUS)) == cores for name in hosts)


def test_a_run_killed_while_the_hosts_were_pinned_gets_them_all_their_cores_back_in_the_next(lab_runner):
    """A run killed inside `cores_apart` leaves the containers on their half. The next run finds them there, and gives
    back what the killed run recorded they had, not that half."""
    lab, hosts, cores = _lab(lab_runner)
    killed = cores_apart(lab)
    killed.__enter__()  # and never left: the run is killed here
    os.sched_setaffinity(0, cores)  # (a new run is a new process, with every core)
    assert PINNED.exists() and all(_allowed(lab.on_host(name, STATUS)) != cores for name in hosts)

    with cores_apart(lab):
        pass
    assert all(_allowed(lab.on_host(name, STATUS)) == cores for name in hosts)
    assert not PINNED.exists()
    killed.__exit__(None, None, None)  # (now, not whenever the suspended context is collected)
