"""Files a deploy writes on a host: their state read in one batch per host, put only when they differ, and
staged files checked by their daemon's own check before they are installed."""

from __future__ import annotations

import hashlib
import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import FactBase
from pyinfra.operations import files, server

from ..templating import ConfigFile


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
        paths = [path for item in configs.values() for path in (item.dest, item.installed) if path]
        return cls(*paths, *extra, units=units)


def checked_install(wanted: HostFiles, staged: list[ConfigFile], check: str, name: str, force: bool = False):
    """Check staged files with a daemon's own `check` command, then install each at its `installed` path;
    runs when a staged file changed this run, when an installed copy differs from its staged one (a run that
    stopped in between), or when `force`. A failed check leaves the installed files as they were."""
    puts = [wanted.config(item) for item in staged]
    install = "; ".join(f"install -o {item.user} -g {item.group} -m 0{item.installed_mode or item.mode} "
                        f"{item.dest} {item.installed}" for item in staged)
    return server.shell(
        name=name,
        commands=[f"set -e; out=$({check} 2>&1) || {{ echo \"$out\" | tail -n 20; exit 1; }}; {install}"],
        _if=lambda: force or any(op.did_change() for op in puts) or any(
            wanted.sha1(item.installed) != wanted.sha1(item.dest) for item in staged),
    )
