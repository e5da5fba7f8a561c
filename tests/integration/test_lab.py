"""The lab and the deploy, end to end: idempotence, firewall behaviour, secrets kept out of output."""

import socket
import time

import docker
import pytest

from rtcstack.site import load
from rtcstack.site.secrets import SecretStore
from tests.conftest import LAB_INVENTORIES, deploy, rtcstack

pytestmark = pytest.mark.integration


@pytest.fixture(params=LAB_INVENTORIES, ids=lambda p: p.split("/")[-1][:-3])
def lab(request, lab_runner):
    return lab_runner(request.param)


def test_deploy_second_run_changes_nothing(lab, lab_runner):
    """A second deploy reports zero changed operations, read from pyinfra's State."""
    second = deploy(lab.inventory, lab_runner.tmp)
    assert second["returncode"] == 0, second["output"][-4000:]
    assert second["operations"] > 20
    assert second["changed_count"] == 0, second["changed"]


def test_deploy_dry_run_shows_no_secret(lab, lab_runner):
    """--dry output holds none of the deployment's secrets nor a private key."""
    dry = deploy(lab.inventory, lab_runner.tmp, "--dry")
    assert dry["returncode"] == 0, dry["output"][-4000:]
    for value in SecretStore.for_inventory(lab.inventory).values().values():
        assert value not in dry["output"]
    assert "PRIVATE KEY" not in dry["output"]


def test_lab_up_again_keeps_the_containers(lab):
    """A second `lab up` reuses every container instead of recreating it."""
    client = docker.from_env()
    hosts = load(lab.inventory).hosts
    before = {name: client.containers.get(name).id for name in hosts}
    rtcstack("lab", "up", lab.inventory)
    assert {name: client.containers.get(name).id for name in hosts} == before


def test_lab_up_restarts_a_stopped_container(lab):
    """A container stopped behind the lab's back is started again by `lab up`."""
    client = docker.from_env()
    name = sorted(load(lab.inventory).hosts)[0]
    client.containers.get(name).stop(timeout=10)
    rtcstack("lab", "up", lab.inventory)
    assert rtcstack("lab", "status", lab.inventory).returncode == 0
    assert client.containers.get(name).status == "running"


def _probe(source: str | None, address: str, port: int) -> str:
    """'open' (RST: allowed, nothing listening, or a listener), or 'dropped' (timeout)."""
    if source is None:
        try:
            socket.create_connection((address, port), timeout=2).close()
            return "open"
        except ConnectionRefusedError:
            return "open"
        except TimeoutError:
            return "dropped"
    client = docker.from_env()
    result = client.containers.get(source).exec_run(
        ["timeout", "3", "bash", "-c", f"</dev/tcp/{address}/{port}"])
    return "dropped" if result.exit_code == 124 else "open"


@pytest.mark.brings_up("inventories/lab.py")
def test_firewall_admits_postgresql_only_from_its_clients(lab_runner):
    """db1:5432 answers sip1 (a registrar) and media1 (its voicemail) but drops the machine and turn1; ssh stays
    reachable."""
    lab_runner("inventories/lab.py")
    assert _probe("sip1", "198.18.10.11", 5432) == "open"
    assert _probe("media1", "198.18.10.11", 5432) == "open"
    assert _probe("turn1", "198.18.10.11", 5432) == "dropped"
    assert _probe(None, "198.18.10.11", 5432) == "dropped"
    assert _probe(None, "198.18.10.11", 22) == "open"
    assert _probe(None, "198.18.10.11", 8080) == "dropped"


def _daemons() -> list[tuple[str, str, str, tuple[int, ...]]]:
    """(inventory, host, unit, its single listening ports) for every daemon every role runs on every lab host."""
    from rtcstack.roles import REGISTRY

    out = []
    for inventory in LAB_INVENTORIES:
        deployment = load(inventory)
        for host in deployment.hosts.values():
            for role in host.roles:
                ports = tuple(sorted({lst.ports.start for lst in REGISTRY[role].listeners(deployment, host)
                                      if lst.ports.size == 1}))
                out += [(inventory, host.name, unit, ports) for unit in REGISTRY[role].units]
    return out


def _back(container, unit: str, old_pid: str, ports: tuple[int, ...]) -> bool:
    shown = dict(line.split("=", 1) for line in container.exec_run(
        f"systemctl show {unit} -p ActiveState -p MainPID").output.decode().split())
    state, pid = shown.get("ActiveState"), shown.get("MainPID")
    listening = container.exec_run("ss -Hlntu").output.decode()
    return state == "active" and pid not in (old_pid, "0") and all(f":{port} " in listening for port in ports)


@pytest.mark.parametrize(("inventory", "host", "unit", "ports"), _daemons(),
                         ids=[f"{u}@{h}-{i.split('/')[-1][:-3]}" for i, h, u, _ in _daemons()])
def test_every_daemon_is_back_within_5_s_after_kill_9(lab_runner, inventory, host, unit, ports):
    """SIGKILL to a daemon's main process: systemd restarts it (the lifecycle's restart policy) and its ports
    listen again within 5 s."""
    import docker

    lab_runner(inventory)
    container = docker.from_env().containers.get(host)
    old_pid = container.exec_run(f"systemctl show {unit} -p MainPID --value").output.decode().strip()
    assert old_pid not in ("", "0"), f"{unit} is not running on {host}"
    started = time.monotonic()
    container.exec_run(f"kill -9 {old_pid}")
    while time.monotonic() - started < 15 and not _back(container, unit, old_pid, ports):
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    assert _back(container, unit, old_pid, ports), f"{unit} on {host} is not back after 15 s"
    assert elapsed < 5, f"{unit} on {host} took {elapsed:.1f} s"


@pytest.mark.brings_up("inventories/lab.py")
def test_a_config_that_passes_its_check_but_does_not_start_is_put_back(lab_runner):
    """The deploy's restart of a daemon whose new config passed the daemon's check but does not start (Kamailio
    checks its database tables only at start) fails loudly, puts back the files the daemon served with before
    this deploy and restarts it on them: the host keeps its service."""
    import docker

    from rtcstack.infra.host_files import PREVIOUS
    from rtcstack.infra.service import restart_command

    lab_runner("inventories/lab.py")
    sip1 = docker.from_env().containers.get("sip1")
    cfg = "/etc/kamailio/kamailio.cfg"

    def run(command: str):
        return sip1.exec_run(["sh", "-c", command], demux=True)

    good = run(f"cat {cfg}").output[0]
    try:
        assert run(f"cp -p {cfg} {cfg}{PREVIOUS} && "
                   f"printf 'loadmodule \"rtcstack_no_such_module.so\"\\n' >> {cfg}").exit_code == 0
        result = run(restart_command("kamailio", "Kamailio", None, 5, [cfg]))
        stderr = (result.output[1] or b"").decode()
        assert result.exit_code == 1, stderr
        assert "does not serve 5 s after its restart" in stderr and "serves again with the config it had" in stderr
        assert run(f"cat {cfg}").output[0] == good
        assert run("systemctl is-active kamailio").exit_code == 0
    finally:
        if run(f"cat {cfg}").output[0] != good or run("systemctl is-active kamailio").exit_code != 0:
            run(f"cp -p {cfg}{PREVIOUS} {cfg}; systemctl restart kamailio")


def test_files_moved_to_and_from_a_lab_host_leave_no_mount_behind(lab_runner):
    """Uploads (a deploy's files, a command's input) and downloads go through `docker exec`: each `docker cp` left the
    container's bind mounts (eleven, with the cgroup hierarchies) stacked in it for good, and systemd re-read the
    whole mount table on every change (2.8 MB on db1 after one integration run). An upload lands whole, readable by
    root only, as `docker cp` of pyinfra's private temporary file did."""
    import io

    from rtcstack.runtime.remote import connect
    from rtcstack.site import Site

    lab_runner("inventories/lab.py")
    db1 = connect(Site.load("inventories/lab.py"), ["db1"])["db1"]
    mounts = db1.run("wc -l < /proc/1/mountinfo")
    assert db1.run("cat", stdin="the input") == "the input"
    db1._host.put_file(io.BytesIO(b"uploaded"), "/root/rtcstack-upload-test")
    downloaded = io.BytesIO()
    db1._host.get_file("/root/rtcstack-upload-test", downloaded)
    assert downloaded.getvalue() == b"uploaded"
    assert db1.run("stat -c %a:%U /root/rtcstack-upload-test; rm /root/rtcstack-upload-test; "
                   "ls -A /root | grep -c rtcstack-upload || true").split() == ["600:root", "0"]
    assert db1.run("wc -l < /proc/1/mountinfo") == mounts
