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
    """From one command: `MODE USER GROUP SHA1` of each path (or `missing`); `ENABLED ACTIVE` of each unit
    (`systemctl is-enabled`, `is-active`); `HOME:SHELL GROUP,GROUP HOME_OWNER` of each account (or `missing`);
    the output of each probe (a shell command), on one line."""

    def command(self, paths: tuple[str, ...], units: tuple[str, ...] = (), accounts: tuple[str, ...] = (),
                probes: tuple[str, ...] = ()) -> str:
        parts = []
        if paths:
            quoted = " ".join(shlex.quote(p) for p in paths)
            parts.append(f'for p in {quoted}; do if [ -f "$p" ]; then echo "$(stat -c "%a %U %G" "$p") '
                         f'$(sha1sum < "$p" | cut -c1-40)"; else echo missing; fi; done')
        for unit in (shlex.quote(f"{u}.service") for u in units):
            parts.append(f'e=$(systemctl is-enabled {unit} 2>/dev/null); a=$(systemctl is-active {unit} 2>/dev/null); '
                         f'echo "${{e:-unknown}} ${{a:-unknown}}"')
        for account in (shlex.quote(a) for a in accounts):
            parts.append(f'if e=$(getent passwd {account}); then h=$(echo "$e" | cut -d: -f6); echo "$(echo "$e" | '
                         f'cut -d: -f6,7) $(id -nG {account} | tr " " ",") $(stat -c %U "$h" 2>/dev/null || echo -)"; '
                         f'else echo missing; fi')
        for probe in probes:
            parts.append(f'printf "%s\\n" "$( ({probe}) 2>/dev/null | tr "\\n" " ")"')  # (dash's echo reads \\n)
        return "; ".join(parts) or "true"

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
    command reads the state of the deploy's units (`units`) and accounts (`accounts`)."""

    def __init__(self, *dests: str, units: tuple[str, ...] = (), accounts: tuple[str, ...] = (),
                 probes: tuple[str, ...] = ()):
        answers = (host.get_fact(FileStates, paths=tuple(dests), units=tuple(units), accounts=tuple(accounts),
                                 probes=tuple(probes))
                   if dests or units or accounts or probes else [])
        self.states = dict(zip(dests, answers[:len(dests)]))
        unit_answers = [a.split() + ["unknown"] * 2 for a in answers[len(dests):len(dests) + len(units)]]
        #: `systemctl is-enabled` of each unit (enabled, disabled, masked...), and `is-active`.
        self.units = {unit: answer[0] for unit, answer in zip(units, unit_answers)}
        self.active = {unit: answer[1] for unit, answer in zip(units, unit_answers)}
        #: Each account's `home:shell`, groups and the owner of its home directory, or None when it does not exist.
        self.accounts: dict[str, tuple[str, set[str], str] | None] = {}
        for account, answer in zip(accounts, answers[len(dests) + len(units):]):
            home_shell, groups, owner = (answer.split() + ["", "", "-"])[:3]
            self.accounts[account] = None if answer == "missing" else (home_shell, set(groups.split(",")), owner)
        #: Each probe's output, its lines joined by spaces and stripped ("" when it printed nothing or failed).
        self.probes = {probe: answer.strip() for probe, answer in
                       zip(probes, answers[len(dests) + len(units) + len(accounts):])}

    def running(self, unit: str) -> bool:
        """Whether the unit was enabled and active when this run read it."""
        return self.units.get(unit) == "enabled" and self.active.get(unit) == "active"

    def in_group(self, account: str, group: str) -> bool | None:
        """Whether an account is in a group (None: the account does not exist yet)."""
        found = self.accounts.get(account)
        return None if found is None else group in found[1]

    def sha1(self, dest: str) -> str | None:
        """The SHA-1 of a file as this run found it (None when missing)."""
        state = self.states.get(dest, "missing")
        return None if state == "missing" else state.split()[-1]

    def holds(self, dest: str, content: str, mode: str = "644", user: str = "root", group: str = "root") -> bool:
        """Whether `dest` (one of the paths read up front) already has this content, mode and owner."""
        digest = hashlib.sha1(content.encode()).hexdigest()
        return self.states.get(dest) == f"{int(mode, 8):o} {user} {group} {digest}"

    def put(self, name: str, content: str, dest: str, mode: str = "644", user: str = "root", group: str = "root"):
        if self.holds(dest, content, mode, user, group):
            return Unchanged()
        return files.put(name=name, src=StringIO(content), dest=dest, mode=mode, user=user, group=group)

    def config(self, item: ConfigFile):
        return self.put(f"Render {item.dest}", item.render(), item.dest, item.mode, item.user, item.group)

    @classmethod
    def for_configs(cls, configs: dict[str, ConfigFile], *extra: str, units: tuple[str, ...] = (),
                    accounts: tuple[str, ...] = (), probes: tuple[str, ...] = ()) -> HostFiles:
        paths = [path for item in configs.values() for path in (item.dest, item.installed) if path]
        return cls(*paths, *extra, units=units, accounts=accounts, probes=probes)


#: Suffix of the copy of an installed file that the last checked install replaced.
PREVIOUS = ".rtcstack-previous"


def checked_install(wanted: HostFiles, staged: list[ConfigFile], check: str, name: str, force: bool = False):
    """Check staged files with a daemon's own `check` command, then install each at its `installed` path;
    runs when a staged file changed this run, when an installed copy differs from its staged one (a run that
    stopped in between), or when `force`. A failed check leaves the installed files as they were."""
    puts = [wanted.config(item) for item in staged]
    # The copy in use is kept beside it (PREVIOUS): a daemon that passes its check but does not start on the new
    # files gets them back (Service.rolling_restart).
    keep = "; ".join(f"if [ -e {item.installed} ]; then cp -p {item.installed} {item.installed}{PREVIOUS}; fi"
                     for item in staged)
    install = keep + "; " + "; ".join(f"install -o {item.user} -g {item.group} -m 0{item.installed_mode or item.mode} "
                                      f"{item.dest} {item.installed}" for item in staged)
    return server.shell(
        name=name,
        commands=[f"set -e; out=$({check} 2>&1) || {{ echo \"$out\" | tail -n 20; exit 1; }}; {install}"],
        _if=lambda: force or any(op.did_change() for op in puts) or any(
            wanted.sha1(item.installed) != wanted.sha1(item.dest) for item in staged),
    )
