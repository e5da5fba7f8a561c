"""The lifecycle of one of rtcstack's own web services: `Service` with an install stage of its own. The
wheelhouse (rtcstack/infra/wheelhouse.py) goes to the host, changed wheels only; a venv from Debian's
python3 takes them offline, once per host and run, and only when the venv does not hold this run's wheelhouse
already; the service restarts when the code it runs or a file it reads changed. The code it runs is what its
processes can load (`wheelhouse.code_digest` of the module its unit file starts): a change to the deploy's
side of the wheel (other daemons' templates, rtcstack.roles, the CLI) is installed and restarts no service.
The portal's renewal job (`python -m rtcstack.web.renewal`) is a oneshot from the same venv that loads the
installed code at each start: it is no part of the portal's record, and a change to it alone restarts nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server

from .facts import installed_packages, per_run
from .service import Service
from .wheelhouse import HOST_VENV, HOST_WHEELS, build, code_digest, wheelhouse_digest

PYTHON_PACKAGES = ("python3", "python3-venv")
#: The digest of the wheelhouse the venv holds (written after a successful install).
INSTALLED_RECORD = f"{HOST_VENV}/.installed-wheelhouse"


@dataclass
class PythonService(Service):
    """A uvicorn service from rtcstack's wheel, run by its own account (the unit file says which). After a
    start or restart the deploy waits until `health_url` answers 200, so a deploy that ends has the service
    serving (an edge in front of it never sees it half-started)."""

    health_url: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.health_url and not self.ready:
            self.ready = f"curl -sf -o /dev/null {self.health_url}"

    @property
    def entry_modules(self) -> tuple[str, ...]:
        """The modules its processes start from: the module part of the factory its unit file gives uvicorn."""
        return (self.files["unit"].context["factory"].partition(":")[0],)

    def install(self) -> None:
        house = install_wheelhouse(self.wanted)
        # Several services share the venv: the first one's install is no change for the next ones. Each service
        # records which code it runs, and restarts when that record changes.
        self.code_record = self.wanted.put(f"Record the code the {self.title} runs",
                                           f"{code_digest(house, self.entry_modules)}\n", self.records()[0])

    def records(self) -> tuple[str, ...]:
        return (f"{HOST_VENV}/.code-{self.unit}", INSTALLED_RECORD)

    def changed(self, effect) -> bool:
        return super().changed(effect) or (effect == "restart" and self.code_record.did_change())

    def activate(self) -> None:
        super().activate()
        if self.health_url:
            wait = (f"for i in $(seq {self.ready_seconds * 5}); do curl -sf -o /dev/null {self.health_url} && exit 0; "
                    f"sleep 0.2; done; echo '{self.title} does not answer {self.health_url}' >&2; "
                    f"journalctl -u {self.unit} -n 20 --no-pager >&2; exit 1")
            # (a restart waits itself: Service.rolling_restart with `ready`)
            server.shell(name=f"Wait until the {self.title} answers (it was started)", commands=[wait],
                         _if=lambda: self.first_install)


def install_wheelhouse(wanted, extra: str = "service", wheels: str = HOST_WHEELS, venv: str = HOST_VENV) -> Path:
    """Queue the install of `extra`'s wheelhouse into `venv` on this host (once per host and run, and only when
    the venv does not hold this run's wheelhouse already); returns the wheelhouse. `wanted` is the HostFiles
    that read the venv's record."""
    installed = installed_packages()
    missing = [p for p in PYTHON_PACKAGES if p not in installed]
    if missing:
        apt.packages(name="Install Python for rtcstack's services", packages=missing)
    # The venv records the wheelhouse it was installed from: when that is this run's, there is nothing to
    # upload (a sync compares every wheel: seconds), and the first service on a host installs for the others.
    house = build(extra)
    digest, record = f"{wheelhouse_digest(house)}\n", f"{venv}/.installed-wheelhouse"
    queued = per_run("wheelhouse installs")  # (several services share one venv: the first one queues it)
    if not wanted.holds(record, digest) and (host.name, venv, digest) not in queued:
        queued[host.name, venv, digest] = True
        files.sync(name=f"Upload the {extra} wheelhouse (changed wheels only)", src=str(house), dest=wheels,
                   delete=True, mode="644", dir_mode="755")
        if not host.get_fact(File, path=f"{venv}/pyvenv.cfg"):  # (bin/python3 is a link)
            server.shell(name=f"Create the venv {venv}", commands=[f"python3 -m venv {venv}"])
        server.shell(
            name=f"Install rtcstack's {extra} wheelhouse into {venv} (offline)",
            commands=[f"{venv}/bin/pip install --quiet --disable-pip-version-check --no-index --no-deps "
                      f"--force-reinstall {wheels}/*.whl"])
        wanted.put(f"Record the wheelhouse installed in {venv}", digest, record)
    return house

