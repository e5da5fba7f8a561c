"""Deploy helpers shared by every role: files checked in one batch per host, put only when they differ."""

from __future__ import annotations

import hashlib
import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import FactBase
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import Command
from pyinfra.operations import files, server

from .base import ConfigFile


class FileStates(FactBase):
    """`MODE USER GROUP SHA1` of each path (or `missing`), then the `systemctl is-enabled` state of each unit,
    all from one command."""

    def command(self, paths: tuple[str, ...], units: tuple[str, ...] = ()) -> str:
        quoted = " ".join(shlex.quote(p) for p in paths)
        command = (f'for p in {quoted}; do if [ -f "$p" ]; then echo "$(stat -c "%a %U %G" "$p") '
                   f'$(sha1sum < "$p" | cut -c1-40)"; else echo missing; fi; done')
        for unit in units:
            command += f'; s=$(systemctl is-enabled {shlex.quote(unit)}.service 2>/dev/null); echo "${{s:-unknown}}"'
        return command

    def process(self, output) -> list[str]:
        return list(output)


class Unchanged:
    """Stands for a files.put that was not needed: the host already has exactly this file."""

    changed = False

    @staticmethod
    def did_change() -> bool:
        return False


class HostFiles:
    """The files one deploy writes on this host: their current state is read once (one command instead
    of pyinfra's three facts per file), and only files that differ become files.put operations. The same
    command reads the enablement of the deploy's units (`units`)."""

    def __init__(self, *dests: str, units: tuple[str, ...] = ()):
        answers = host.get_fact(FileStates, paths=tuple(dests), units=tuple(units)) if dests or units else []
        self.states = dict(zip(dests, answers[:len(dests)]))
        self.units = dict(zip(units, answers[len(dests):]))

    def sha1(self, dest: str) -> str | None:
        """The SHA-1 of a file as this run found it (None when missing)."""
        state = self.states.get(dest, "missing")
        return None if state == "missing" else state.split()[-1]

    def put(self, name: str, content: str, dest: str, mode: str = "644", user: str = "root", group: str = "root"):
        digest = hashlib.sha1(content.encode()).hexdigest()
        if self.states.get(dest) == f"{int(mode, 8):o} {user} {group} {digest}":
            return Unchanged()
        return files.put(name=name, src=StringIO(content), dest=dest, mode=mode, user=user, group=group)

    def config(self, item: ConfigFile):
        return self.put(f"Render {item.dest}", item.render(), item.dest, item.mode, item.user, item.group)

    @classmethod
    def for_configs(cls, configs: dict[str, ConfigFile], *extra: str, units: tuple[str, ...] = ()) -> HostFiles:
        return cls(*(item.dest for item in configs.values()), *extra, units=units)


def config_putter(configs: dict[str, ConfigFile], *extra: str, units: tuple[str, ...] = ()):
    """`put(purpose)` for a role's rendered files, all checked in one batch with the `extra` paths
    (written through `put.files`) and the `units`' enablement."""
    wanted = HostFiles.for_configs(configs, *extra, units=units)

    def put(purpose: str):
        return wanted.config(configs[purpose])

    put.files = wanted
    return put


def mask_before_install(package: str, service: str) -> bool:
    """Mask a daemon's unit before its package is installed, so Debian's post-install start never runs
    it on the stock config; whether this run installs it."""
    first_install = package not in host.get_fact(DebPackages)
    if first_install:
        server.shell(name=f"Mask {service} before installing {package} (no start on the stock config)",
                     commands=[f"systemctl mask {service}.service"])
    return first_install


def unmask_when_configured(service: str, first_install: bool, files: HostFiles) -> None:
    """Unmask the unit once its configuration is in place (also after a run that stopped in between);
    `files` must have read the unit's state (`units=(service,)`)."""
    if first_install or files.units.get(service) == "masked":
        server.shell(name=f"Unmask {service} (configured)", commands=[f"systemctl unmask {service}.service"])


def add_to_group(user: str, group: str, why: str) -> None:
    server.shell(name=f"Add {user} to group {group} ({why})", commands=[f"adduser {user} {group}"],
                 _if=lambda: group not in host.get_fact(Command, f"id -nG {user} || true").split())


def certificate_stamp_path(service: str) -> str:
    return f"/etc/rtcstack/{service}/certificate.sha256"


def record_served_certificate(wanted: HostFiles, service: str):
    """Record which certificate a daemon serves (its SHA-256): the returned operation changes exactly when
    a renewed certificate was installed, so the caller reloads the daemon then. `wanted` must include
    `certificate_stamp_path(service)`."""
    from .context import host_tls

    digest = hashlib.sha256(host_tls().certificate.encode()).hexdigest()
    return wanted.put(f"Record the certificate {service} serves", f"{digest}\n", certificate_stamp_path(service))
