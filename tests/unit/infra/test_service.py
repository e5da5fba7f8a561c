"""The service lifecycle (install, configure, activate) decided from what a host reports: the operations it
queues and which of them run, with pyinfra's operations and facts replaced by recorders."""

import hashlib
from dataclasses import dataclass, field

import pytest

from rtcstack.infra import facts, host_files, service
from rtcstack.infra.service import CertificateReload, Service, certificate_stamp_path
from rtcstack.site.pki import HostTls
from rtcstack.templating import ConfigFile

CERTIFICATE = "-----BEGIN CERTIFICATE-----\nrenewed\n"


@dataclass
class Operation:
    kind: str
    name: str
    condition: object = None
    changed: bool = False

    def did_change(self) -> bool:
        return self.changed


@dataclass
class FakeHost:
    """A host as the batch read and pyinfra's facts see it; records the operations queued for it."""

    files: dict[str, str] = field(default_factory=dict)  # path -> content
    owners: dict[str, str] = field(default_factory=dict)  # path -> "MODE USER GROUP" (default 644 root root)
    unit: str = "enabled active"
    packages: tuple[str, ...] = ()
    groups: str = "daemon,ssl-cert"
    operations: list[Operation] = field(default_factory=list)
    name: str = "@docker/test1"

    def get_fact(self, fact, *args, **kwargs):
        if fact is host_files.FileStates:
            states = [self._state(p) for p in kwargs["paths"]]
            return states + [self.unit for _ in kwargs["units"]] + [
                f"/var/lib/daemon:/bin/false {self.groups} daemon" for _ in kwargs["accounts"]]
        if fact.__name__ == "DebPackages":
            return {package: ["1"] for package in self.packages}
        return ""

    def _state(self, path: str) -> str:
        if path not in self.files:
            return "missing"
        return f"{self.owners.get(path, '644 root root')} {hashlib.sha1(self.files[path].encode()).hexdigest()}"

    def record(self, kind: str):
        def operation(**arguments):
            op = Operation(kind, arguments.get("name", kind), arguments.get("_if"))
            op.arguments = arguments
            self.operations.append(op)
            return op
        return operation

    def run(self) -> list[str]:
        """Execute in order: an operation runs (and counts as changed) when its condition holds."""
        ran = []
        for op in self.operations:
            op.changed = op.condition is None or bool(op.condition())
            if op.changed:
                ran.append(op.name)
        return ran


class Recorders:
    def __init__(self, host: FakeHost):
        for name in ("put", "directory"):
            setattr(self, name, host.record(f"files.{name}"))
        self.shell = host.record("server.shell")
        self.packages = host.record("apt.packages")
        self.service = host.record("systemd.service")
        self.daemon_reload = host.record("systemd.daemon_reload")


@pytest.fixture
def host(monkeypatch):
    fake = FakeHost()
    recorders = Recorders(fake)
    for module in (service, host_files):
        monkeypatch.setattr(module, "host", fake)
        monkeypatch.setattr(module, "files", recorders)
        monkeypatch.setattr(module, "server", recorders)
    monkeypatch.setattr(facts, "host", fake)
    monkeypatch.setattr(service, "apt", recorders)
    monkeypatch.setattr(service, "systemd", recorders)
    monkeypatch.setattr(service, "host_tls", lambda: HostTls(CERTIFICATE, "key", "ca"))
    monkeypatch.setattr(service, "restart_policy", lambda unit: ConfigFile(
        f"/etc/systemd/system/{unit}.service.d/50-rtcstack-restart.conf", "t", {"text": "Restart=on-failure"}))
    monkeypatch.setattr(ConfigFile, "render", lambda item: item.context["text"])
    return fake


def daemon_files(config="listen 1", dropin="LimitNOFILE=65536", staged=False, effect=None) -> dict[str, ConfigFile]:
    conf = (ConfigFile("/etc/rtcstack/daemon/daemon.conf", "t", {"text": config}, mode="640", group="daemon",
                       installed="/etc/daemon/daemon.conf", effect=effect) if staged else
            ConfigFile("/etc/daemon/daemon.conf", "t", {"text": config}, mode="640", group="daemon", effect=effect))
    return {"conf": conf,
            "dropin": ConfigFile("/etc/systemd/system/daemon.service.d/60-rtcstack.conf", "t", {"text": dropin},
                                 mode="640", group="daemon")}


def in_place(host: FakeHost, files: dict[str, ConfigFile], certificate: str = CERTIFICATE) -> None:
    """The host already has exactly these files (staged and installed) and the restart policy, and serves
    `certificate`."""
    host.files["/etc/systemd/system/daemon.service.d/50-rtcstack-restart.conf"] = "Restart=on-failure"
    for item in files.values():
        for path in filter(None, (item.dest, item.installed)):
            host.files[path] = item.context["text"]
            host.owners[path] = f"{item.mode} {item.user} {item.group}"
    host.files[certificate_stamp_path("daemon")] = hashlib.sha256(certificate.encode()).hexdigest() + "\n"


def deploy(host: FakeHost, files, **options) -> list[str]:
    Service("Daemon", "daemon", files, packages=("daemon", "daemon-modules"), tls_reader="daemon", **options).deploy()
    return host.run()


def test_first_install_masks_configures_then_starts_without_a_restart(host):
    """A missing package: masked before install, config checked and installed, unmasked, started; no restart."""
    host.unit = "unknown unknown"
    ran = deploy(host, daemon_files(staged=True), check="daemon -t")
    assert ran[0].startswith("Mask daemon") and "Install Daemon" in ran
    assert any(name.startswith("Check the staged config with daemon") for name in ran)
    assert "Unmask daemon (configured)" in ran and "Daemon running and enabled" in ran
    assert "Reload systemd units (Daemon's unit files changed)" in ran
    assert not [name for name in ran if name.startswith(("Restart Daemon", "Reload Daemon"))]


def test_nothing_runs_when_everything_is_in_place(host):
    """Packages installed, files equal, unit enabled and active, certificate served: no operation runs."""
    host.packages = ("daemon", "daemon-modules")
    files = daemon_files(staged=True)
    in_place(host, files)
    assert deploy(host, files, check="daemon -t", certificate=CertificateReload.reload()) == []


def test_a_changed_config_is_checked_installed_and_restarts_the_daemon(host):
    """A file the daemon reads changed: staged, checked, installed, one restart; nothing masked."""
    host.packages = ("daemon", "daemon-modules")
    in_place(host, daemon_files(staged=True))
    ran = deploy(host, daemon_files(config="listen 2", staged=True), check="daemon -t")
    assert ran == ["Render /etc/rtcstack/daemon/daemon.conf",
                   "Check the staged config with daemon, then install it in /etc/daemon",
                   "Restart Daemon (a file it reads changed; one host at a time, each serving before the next)"]


def test_hosts_of_a_role_restart_one_at_a_time_each_serving_before_the_next(host):
    """The restart runs host by host (pyinfra's _serial) and returns only once the daemon answers its probe."""
    host.packages = ("daemon", "daemon-modules")
    in_place(host, daemon_files())
    deploy(host, daemon_files(config="listen 2"), ready="daemon-ping --port 7")
    restart = next(op for op in host.operations if op.name.startswith("Restart Daemon"))
    assert restart.arguments["_serial"] is True
    command = restart.arguments["commands"][0]
    assert "; systemctl restart daemon.service && serves && exit 0; " in command
    assert "( daemon-ping --port 7 )" in command
    assert command.endswith("exit 1")  # a daemon that never serves fails its host, and the deploy says so


def test_a_staged_config_the_daemon_does_not_start_on_is_put_back_after_a_failed_restart(host):
    """The checked install keeps the installed copy beside it; a restart that does not serve puts it back and
    restarts the daemon on it (still failing the host, so the deploy says so)."""
    host.packages = ("daemon", "daemon-modules")
    in_place(host, daemon_files(staged=True))
    deploy(host, daemon_files(config="listen 2", staged=True), check="daemon -t")
    install = next(op for op in host.operations if op.name.startswith("Check the staged config"))
    kept = "cp -p /etc/daemon/daemon.conf /etc/daemon/daemon.conf.rtcstack-previous"
    assert kept in install.arguments["commands"][0]
    assert install.arguments["commands"][0].index(kept) < install.arguments["commands"][0].index("install -o")
    restart = next(op for op in host.operations if op.name.startswith("Restart Daemon")).arguments["commands"][0]
    back = restart.split("serves && exit 0; ", 1)[1]
    assert "cp -p /etc/daemon/daemon.conf.rtcstack-previous /etc/daemon/daemon.conf" in back
    assert "systemctl restart daemon.service && serves" in back and back.endswith("exit 1")


def test_a_missing_module_package_on_a_running_daemon_neither_masks_nor_skips_the_restart(host):
    """Only the daemon's own package decides a first install: a running daemon missing a module package gets
    the package, and a changed config still restarts it."""
    host.packages = ("daemon",)
    in_place(host, daemon_files())
    ran = deploy(host, daemon_files(config="listen 2"))
    assert not [name for name in ran if name.startswith("Mask")]
    assert "Install Daemon" in ran and "Restart Daemon (a file it reads changed; one host at a time, each serving before the next)" in ran


def test_a_run_stopped_between_stage_and_install_installs_on_the_next(host):
    """The staged file is new but the installed one is old (a run that stopped): check, install, restart."""
    host.packages = ("daemon", "daemon-modules")
    files = daemon_files(config="listen 2", staged=True)
    in_place(host, files)
    host.files["/etc/daemon/daemon.conf"] = "listen 1"
    ran = deploy(host, files, check="daemon -t")
    assert "Check the staged config with daemon, then install it in /etc/daemon" in ran
    assert "Restart Daemon (a file it reads changed; one host at a time, each serving before the next)" in ran


def test_a_changed_drop_in_reloads_systemd_and_restarts_even_a_reload_only_daemon(host):
    """A unit file changed: daemon-reload, then a restart (systemd applies LimitNOFILE only then)."""
    host.packages = ("daemon", "daemon-modules")
    in_place(host, daemon_files())
    ran = deploy(host, daemon_files(dropin="LimitNOFILE=131072"), effect="reload")
    assert ran[-2:] == ["Reload systemd units (Daemon's unit files changed)", "Restart Daemon (a file it reads changed; one host at a time, each serving before the next)"]


def test_a_reload_only_change_reloads(host):
    """A file whose change asks only for a reload (pg_hba): a reload, no restart."""
    host.packages = ("daemon", "daemon-modules")
    in_place(host, daemon_files())
    ran = deploy(host, daemon_files(config="hba 2", effect="reload"))
    assert ran[-1] == "Reload Daemon (its config changed)" and not [n for n in ran if n.startswith("Restart")]


@pytest.mark.parametrize(("how", "expected"), [
    (CertificateReload.reload(), "Reload Daemon (its config or certificate changed)"),
    (CertificateReload.signal("SIGUSR2", "SIGUSR2"), "Reload Daemon's certificate (SIGUSR2)"),
    (CertificateReload.command("daemonctl tls.reload", "tls.reload"), "Reload Daemon's certificate (tls.reload)"),
])
def test_a_renewed_certificate_alone_reaches_the_daemon_without_a_restart(host, how, expected):
    """Only the certificate changed: recorded, then a reload, a signal or a command; never a restart."""
    host.packages = ("daemon", "daemon-modules")
    files = daemon_files()
    in_place(host, files, certificate="-----BEGIN CERTIFICATE-----\nold\n")
    ran = deploy(host, files, certificate=how)
    assert ran == ["Record the certificate daemon serves", expected]


def test_a_stopped_daemon_is_started(host):
    """Found enabled but not active: its failed state is cleared (a unit at systemd's start limit refuses to
    start) and the running-and-enabled operation runs, nothing else."""
    host.packages = ("daemon", "daemon-modules")
    host.unit = "enabled failed"
    in_place(host, daemon_files())
    assert deploy(host, daemon_files()) == ["Clear Daemon's failed state", "Daemon running and enabled"]


def test_the_daemon_account_joins_ssl_cert_once(host):
    """The account that reads the TLS key is added to ssl-cert only when the host shows it is not there."""
    host.packages = ("daemon", "daemon-modules")
    host.groups = "daemon"
    in_place(host, daemon_files())
    assert deploy(host, daemon_files()) == ["Add daemon to group ssl-cert (to read the host TLS key)"]
