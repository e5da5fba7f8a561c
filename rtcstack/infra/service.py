"""One lifecycle for every daemon a role runs: install, configure, activate.

- **install**: the package goes in with its unit masked, so Debian's post-install start never serves the
  stock config; the daemon's account may read the host's TLS key (group ssl-cert).
- **configure**: every file is rendered and put only when it differs; files staged for the daemon's own
  check (`ConfigFile.installed`) reach their real path only after the check passed; the certificate the
  daemon serves is recorded, so a renewal is noticed.
- **activate**: systemd re-reads changed unit files; the unit is unmasked, enabled and running; it restarts
  only when a file it reads changed, reloads instead where the change allows it, and a renewed certificate
  alone reaches it by reload, signal or command, never a restart.

A role's deploy script declares one `Service` and calls `deploy()`. A service of rtcstack's own (a Python
web service: a venv from the wheelhouse, a unit file and an environment file with its secrets as
ConfigFiles) overrides `install()` and keeps the other stages.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass, field

from pyinfra import host
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server, systemd

from ..templating import ConfigFile, Effect
from .context import deployment, host_tls
from .facts import installed_packages
from .host_files import PREVIOUS, HostFiles, Unchanged, checked_install


@dataclass(frozen=True)
class CertificateReload:
    """How a renewed certificate reaches the running daemon: `systemctl reload`, a signal, or a command."""

    how: str  # "reload", "signal" or "command"
    argument: str = ""
    why: str = ""

    @classmethod
    def reload(cls) -> CertificateReload:
        return cls("reload")

    @classmethod
    def signal(cls, name: str, why: str) -> CertificateReload:
        return cls("signal", name, why)

    @classmethod
    def command(cls, command: str, why: str) -> CertificateReload:
        return cls("command", command, why)


def certificate_stamp_path(unit: str) -> str:
    return f"/etc/rtcstack/{unit}/certificate.sha256"


def restart_policy(unit: str) -> ConfigFile:
    """The drop-in every daemon gets: systemd restarts it after a crash or a kill, within the deployment's
    limits (system.restart_*)."""
    system = deployment().system
    return ConfigFile(f"/etc/systemd/system/{unit}.service.d/50-rtcstack-restart.conf",
                      "service/etc/systemd/system/UNIT.service.d/50-rtcstack-restart.conf.j2",
                      {"unit": unit, "delay": system.restart_delay_seconds, "burst": system.restart_burst,
                       "interval": system.restart_interval_seconds})


def add_to_group(wanted: HostFiles, user: str, group: str, why: str) -> None:
    """Add an account to a group unless this run found it there (`wanted` read `accounts=(user,)`); an account
    a package is about to create is checked when the operation runs."""
    member = wanted.in_group(user, group)
    if member:
        return
    server.shell(name=f"Add {user} to group {group} ({why})", commands=[f"adduser {user} {group}"],
                 _if=None if member is False else
                 lambda: group not in host.get_fact(Command, f"id -nG {user} || true").split())


def ensure_running(wanted: HostFiles, title: str, unit: str) -> None:
    """Enable and start a unit unless this run found it enabled and active (`wanted` read `units=(unit,)`)."""
    if not wanted.running(unit):
        # A unit that failed often enough has hit systemd's start limit and would refuse this start.
        server.shell(name=f"Clear {title}'s failed state", commands=[f"systemctl reset-failed {unit}.service || true"])
        systemd.service(name=f"{title} running and enabled", service=unit, running=True, enabled=True)


@dataclass
class Service:
    """A daemon from Debian's packages, configured from a role's ConfigFiles."""

    title: str  #: how operations name it ("Kamailio")
    unit: str  #: systemd unit, without .service
    files: dict[str, ConfigFile]
    #: Debian packages; the first is the daemon's own (its absence means a first install).
    packages: tuple[str, ...] = ()
    #: Mask the unit before the first install (False for daemons whose package must start them, PostgreSQL).
    mask: bool = True
    #: The daemon's own check, run on the staged files (`nginx -t -q -c /etc/rtcstack/nginx/nginx.conf`).
    check: str | None = None
    #: What a changed file asks of the daemon unless the file says otherwise.
    effect: Effect = "restart"
    certificate: CertificateReload | None = None
    #: The account that reads the host's TLS key through the ssl-cert group.
    tls_reader: str | None = None
    #: Files put before the package is installed (packages that keep an existing conffile).
    before_install: tuple[str, ...] = ()
    install_args: str | None = None
    #: Succeeds once the daemon serves again after a restart (a port answering, an API call). Restarts go one
    #: host at a time, each waiting for this before the next host restarts: a role with several hosts keeps serving.
    ready: str | None = None
    ready_seconds: int = 30
    first_install: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.files = {**self.files, "restart": restart_policy(self.unit)}
        extra = ((certificate_stamp_path(self.unit),) if self.certificate else ()) + self.records()
        self.wanted = HostFiles.for_configs(self.files, *extra, units=(self.unit,),
                                            accounts=(self.tls_reader,) if self.tls_reader else ())
        self.puts: dict[str, object] = {}

    def deploy(self) -> None:
        self.install()
        self.configure()
        self.activate()

    # --- stages ------------------------------------------------------------------------------

    def install(self) -> None:
        installed = installed_packages()
        if self.mask and self.packages:
            # Only the daemon's own package decides: a running daemon missing a module package is not masked.
            self.first_install = self.packages[0] not in installed
            if self.first_install:
                server.shell(name=f"Mask {self.unit} before installing {', '.join(self.packages)} (no start on the stock config)",
                             commands=[f"systemctl mask {self.unit}.service"])
        for purpose in self.before_install:
            self.put(purpose)
        if any(p not in installed for p in self.packages):
            apt.packages(name=f"Install {self.title}", packages=list(self.packages),
                         extra_install_args=self.install_args)
        if self.tls_reader:
            add_to_group(self.wanted, self.tls_reader, "ssl-cert", "to read the host TLS key")

    def configure(self) -> None:
        staged = [item for item in self.files.values() if item.installed]
        # A staging directory readable by the daemon's group, made with its first file (then left alone).
        for directory, group in dict.fromkeys((posixpath.dirname(i.dest), i.group) for i in staged
                                              if i.group != "root" and self.wanted.sha1(i.dest) is None):
            files.directory(name=f"Staging directory {directory}", path=directory, mode="750", group=group)
        for purpose, item in self.files.items():
            if not item.installed and purpose not in self.puts:
                self.put(purpose)
        self.checked = Unchanged()
        if staged:
            self.checked = checked_install(
                self.wanted, staged, self.check or "true", force=self.first_install,
                name=f"Check the staged config{'' if self.check is None else f' with {self.check.split()[0]}'}, "
                     f"then install it in {posixpath.dirname(staged[0].installed)}")
        self.stamp = Unchanged()
        if self.certificate:
            digest = hashlib.sha256(host_tls().certificate.encode()).hexdigest()
            self.stamp = self.wanted.put(f"Record the certificate {self.unit} serves", f"{digest}\n",
                                         certificate_stamp_path(self.unit))

    def activate(self) -> None:
        units = [op for purpose, op in self.puts.items() if self.files[purpose].is_unit_file]
        staged_units = any(item.is_unit_file for item in self.files.values() if item.installed)
        if units or staged_units:
            systemd.daemon_reload(name=f"Reload systemd units ({self.title}'s unit files changed)",
                                  _if=lambda: any(op.did_change() for op in units) or (
                                      staged_units and self.checked.did_change()))
        if self.mask and (self.first_install or self.wanted.units.get(self.unit) == "masked"):
            server.shell(name=f"Unmask {self.unit} (configured)", commands=[f"systemctl unmask {self.unit}.service"])
        ensure_running(self.wanted, self.title, self.unit)
        fresh = self.first_install
        effects = {self.effect_of(item) for item in self.files.values()}
        certificate = self.certificate
        by_reload = certificate is not None and certificate.how == "reload"
        restarted = Unchanged()
        if "restart" in effects:
            restarted = server.shell(
                name=f"Restart {self.title} (a file it reads changed; one host at a time, each serving before the next)",
                commands=[self.rolling_restart()], _serial=True, _if=lambda: not fresh and self.changed("restart"))
        if "reload" in effects or by_reload:
            systemd.service(
                name=f"Reload {self.title} (its config{' or certificate' if by_reload else ''} changed)",
                service=self.unit, reloaded=True,
                _if=lambda: not fresh and not restarted.did_change() and (
                    self.changed("reload") or (by_reload and self.stamp.did_change())))
        if certificate is not None and not by_reload:
            command = (f"systemctl kill --signal={certificate.argument} {self.unit}.service"
                       if certificate.how == "signal" else certificate.argument)
            server.shell(name=f"Reload {self.title}'s certificate ({certificate.why})", commands=[command],
                         _if=lambda: not fresh and self.stamp.did_change() and not restarted.did_change())

    # --- helpers -----------------------------------------------------------------------------

    def rolling_restart(self) -> str:
        return restart_command(self.unit, self.title, self.ready, self.ready_seconds,
                               [item.installed for item in self.files.values() if item.installed])

    def records(self) -> tuple[str, ...]:
        """Paths of files the deploy keeps on the host for its own bookkeeping (their state is read up front)."""
        return ()

    def put(self, purpose: str):
        """Put one of the service's files now (a file the deploy needs earlier than configure)."""
        if purpose not in self.puts:
            self.puts[purpose] = self.wanted.config(self.files[purpose])
        return self.puts[purpose]

    def effect_of(self, item: ConfigFile) -> Effect:
        """What a change to one file asks of the daemon: a unit file always a restart (systemd applies its
        settings, such as LimitNOFILE, only then), else the file's own effect or the service's."""
        return "restart" if item.is_unit_file else item.effect or self.effect

    def changed(self, effect: Effect) -> bool:
        """Whether a file whose change asks for `effect` changed this run (staged files count once checked)."""
        direct = any(op.did_change() for purpose, op in self.puts.items() if self.effect_of(self.files[purpose]) == effect)
        staged = any(self.effect_of(item) == effect for item in self.files.values() if item.installed)
        return direct or (staged and self.checked.did_change())


def restart_command(unit: str, title: str, ready: str | None, ready_seconds: int, installed: list[str]) -> str:
    """Restart the unit and wait until it serves (`ready`, else systemd calls it active); if it does not, fail
    loudly, and when its config was installed by a checked install, put back the files it served with before
    (`PREVIOUS`) and restart it on them: a config that passes the daemon's check but not its start (Kamailio
    checks its database tables only when it starts) never leaves the host without the service."""
    ready = ready or f"systemctl is-active --quiet {unit}.service"
    serves = (f"serves() {{ for i in $(seq {ready_seconds * 5}); do ( {ready} ) >/dev/null 2>&1 && return 0; "
              f"sleep 0.2; done; return 1; }}")
    failed = (f"echo '{title} does not serve {ready_seconds} s after its restart' >&2; "
              f"journalctl -u {unit}.service -n 20 --no-pager >&2")
    restore = "; ".join(f"if [ -e {path}{PREVIOUS} ]; then cp -p {path}{PREVIOUS} {path}; fi" for path in installed)
    back = (f"; {restore}; systemctl restart {unit}.service && serves && "
            f"echo '{title} serves again with the config it had before this deploy: the new one is left staged' >&2"
            if installed else "")
    return f"{serves}; systemctl restart {unit}.service && serves && exit 0; {failed}{back}; exit 1"
