"""Run deploys/site.py through pyinfra's own CLI in this process, then read the result from its State."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .. import PROJECT_ROOT
from ..config import short_name
from .context import INVENTORY_ENV

SITE = "deploys/site.py"


@dataclass
class DeployResult:
    """Counts from pyinfra's State: per operation, the hosts where it changed something or failed."""

    exit_code: int
    dry: bool
    changed: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, list[str]] = field(default_factory=dict)
    failed_hosts: list[str] = field(default_factory=list)
    operations: int = 0
    #: --dry only: per host, how many operations pyinfra expects to change something.
    planned: dict[str, int] = field(default_factory=dict)

    @property
    def changed_count(self) -> int:
        return sum(len(hosts) for hosts in self.changed.values())

    def to_json(self) -> str:
        return json.dumps({"exit_code": self.exit_code, "dry": self.dry, "operations": self.operations,
                           "changed_count": self.changed_count, "changed": self.changed, "failed": self.failed,
                           "failed_hosts": self.failed_hosts, "planned": self.planned}, indent=2)


def pyinfra_limit(inventory_path: Path, limit: str | None) -> list[str]:
    """Translate `db1,media` (host short names or groups) into pyinfra --limit arguments."""
    if not limit:
        return []
    from ..config import load_inventory

    names = {short_name(h.name): h.name for h in load_inventory(inventory_path)}
    out = []
    for item in limit.split(","):
        item = item.strip()
        out += ["--limit", names.get(item, item)]
    return out


def run(inventory_path: Path, limit: str | None = None, dry: bool = False) -> DeployResult:
    """Deploy an inventory the caller has validated (config.load) first."""
    import click
    import pyinfra
    from pyinfra.api.output import set_echo, set_formatter
    from pyinfra.context import ctx_state
    from pyinfra_cli.cli import cli
    from pyinfra_cli.exceptions import PyinfraError as CliPyinfraError

    pyinfra.is_cli = True
    set_formatter(click.style)
    set_echo(click.echo)
    os.environ[INVENTORY_ENV] = str(inventory_path.resolve())
    os.chdir(PROJECT_ROOT)
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.append(str(PROJECT_ROOT))

    args = [str(inventory_path.resolve()), SITE, *pyinfra_limit(inventory_path, limit)]
    args += ["--dry"] if dry else ["--yes"]
    exit_code = 0
    try:
        cli.main(args=args, prog_name="pyinfra", standalone_mode=False)
    except SystemExit as exc:
        exit_code = int(exc.code or 0)
    except (click.ClickException, CliPyinfraError) as exc:
        exc.show()
        exit_code = 1
    return _result(ctx_state.get(), exit_code, dry)


def _result(state, exit_code: int, dry: bool) -> DeployResult:
    result = DeployResult(exit_code=exit_code, dry=dry)
    if state is None or not state.initialised:
        result.exit_code = exit_code or 1
        return result
    result.failed_hosts = sorted(short_name(h.name) for h in state.failed_hosts)
    if dry:
        for host in state.inventory.iter_activated_hosts():
            meta = state.get_meta_for_host(host)
            result.operations += meta.ops
            result.planned[short_name(host.name)] = meta.ops_change
        return result
    for op_hash in state.get_op_order():
        name = ", ".join(sorted(state.op_meta[op_hash].names))
        for host in state.inventory.iter_activated_hosts():
            if op_hash not in state.ops[host]:
                continue
            result.operations += 1
            meta = state.ops[host][op_hash].operation_meta
            if not meta.did_succeed(_raise_if_not_complete=False):
                result.failed.setdefault(name, []).append(short_name(host.name))
            elif meta.did_change():
                result.changed.setdefault(name, []).append(short_name(host.name))
    if result.failed or result.failed_hosts:
        result.exit_code = result.exit_code or 1
    return result
