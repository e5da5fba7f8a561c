"""Render templates/ with StrictUndefined (a missing value fails loudly, naming the template), and the
ConfigFile a role declares for each file it puts on a host."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .resources import folder

MANAGED = "Managed by rtcstack"

#: What a changed file asks of the daemon that reads it: a restart, a reload, or nothing (a file only the
#: deploy itself reads, such as a SQL script it applies).
Effect = Literal["restart", "reload", "none"]


@cache
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(str(folder("templates"))), undefined=StrictUndefined,
                       keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)


def render(template: str, **context) -> str:
    """Render `templates/<template>`; its first line must say the file is managed."""
    text = _environment().get_template(template).render(**context)
    if MANAGED not in text.splitlines()[0 if not text.startswith("#!") else 1]:
        raise ValueError(f"templates/{template}: the first line must say '{MANAGED}'")
    return text


@dataclass(frozen=True)
class ConfigFile:
    """One file a deploy renders onto a host.

    ``installed``: set when ``dest`` is a staging path; the daemon's own check runs on the staged file and
    only then is it copied to ``installed`` (with ``installed_mode`` when that differs from ``mode``).
    ``effect``: what a change to the file asks of the daemon (None: the service's default).
    """

    dest: str
    template: str
    context: dict = field(hash=False)
    mode: str = "644"
    user: str = "root"
    group: str = "root"
    installed: str | None = None
    installed_mode: str | None = None
    effect: Effect | None = None

    def render(self) -> str:
        return render(self.template, **self.context)

    @property
    def read_path(self) -> str:
        """The path the daemon reads."""
        return self.installed or self.dest

    @property
    def is_unit_file(self) -> bool:
        """A systemd unit or drop-in: a change needs `systemctl daemon-reload` before a restart."""
        return self.read_path.startswith("/etc/systemd/system/")
