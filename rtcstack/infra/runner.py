"""Run deploys/site.py through pyinfra's own CLI in this process, then read the result from its State."""

from __future__ import annotations

import fnmatch
import json
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..resources import deploy_script
from ..site import Site, short_name
from . import context, timing


class DeployError(Exception):
    """The deploy cannot start: the message says why, in one line."""


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
    #: Per role (and "base"): operations over its hosts, changed ones, and the seconds its deploy code took to
    #: queue them (facts included), summed over its hosts.
    roles: dict[str, dict] = field(default_factory=dict)

    @property
    def changed_count(self) -> int:
        return sum(len(hosts) for hosts in self.changed.values())

    def to_json(self) -> str:
        return json.dumps({"exit_code": self.exit_code, "dry": self.dry, "operations": self.operations,
                           "changed_count": self.changed_count, "changed": self.changed, "failed": self.failed,
                           "failed_hosts": self.failed_hosts, "planned": self.planned, "roles": self.roles},
                          indent=2)


def pyinfra_limit(site: Site, limit: str | None) -> list[str]:
    """Translate `db1,media` (host short names or groups, or fnmatch patterns of them: `sip*`) into pyinfra
    --limit arguments; an item that matches no host and no group of the inventory is an error."""
    if not limit:
        return []
    names = {name: host.name for name, host in site.pyinfra_hosts().items()}
    groups = {group for host in site.inventory for group in host.groups}
    out = []
    for item in (part.strip() for part in limit.split(",")):
        hosts, matched_groups = fnmatch.filter(names, item), fnmatch.filter(groups, item)
        if not hosts and not matched_groups:
            raise DeployError(f"--limit {item}: no host or group of that name in {site.path.name} "
                              f"(hosts: {', '.join(sorted(names))})")
        for match in [*(names[h] for h in hosts), *matched_groups]:
            out += ["--limit", match]
    return out


@contextmanager
def _inventory_of(site: Site):
    """pyinfra's CLI takes the inventory the Site has read instead of reading the file again."""
    import pyinfra_cli.cli as pyinfra_cli

    original = pyinfra_cli.make_inventory
    pyinfra_cli.make_inventory = lambda *args, **kwargs: site.inventory
    context.use(site)
    try:
        yield
    finally:
        pyinfra_cli.make_inventory = original
        context.use(None)


def run(site: Site, limit: str | None = None, dry: bool = False) -> DeployResult:
    """Deploy a loaded (so validated) Site: deploys/site.py through pyinfra's CLI, in this process, from the
    operator's current directory."""
    import click
    import pyinfra
    from pyinfra.api.output import set_echo, set_formatter
    from pyinfra.context import ctx_state
    from pyinfra_cli.cli import cli
    from pyinfra_cli.exceptions import PyinfraError as CliPyinfraError

    args = [str(site.path), str(deploy_script("site")), *pyinfra_limit(site, limit)]
    args += ["--dry"] if dry else ["--yes"]
    pyinfra.is_cli = True
    set_formatter(click.style)
    set_echo(click.echo)
    exit_code = 0
    timing.reset()
    with _inventory_of(site):
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
    if not list(state.inventory.iter_activated_hosts()):
        result.exit_code = exit_code or 1
        result.failed_hosts = ["(no host was deployed)"]
        return result
    result.failed_hosts = sorted(short_name(h.name) for h in state.failed_hosts)
    if dry:
        for host in state.inventory.iter_activated_hosts():
            meta = state.get_meta_for_host(host)
            result.operations += meta.ops
            result.planned[short_name(host.name)] = meta.ops_change
        return result
    roles = {name: {"operations": 0, "changed": 0, "prepare_seconds": round(seconds, 3)}
             for name, seconds in timing.seconds.items()}
    for op_hash in state.get_op_order():
        name = ", ".join(sorted(_short(n) for n in state.op_meta[op_hash].names))
        role = _role_of(name)
        for host in state.inventory.iter_activated_hosts():
            if op_hash not in state.ops[host]:
                continue
            result.operations += 1
            counts = roles.setdefault(role, {"operations": 0, "changed": 0, "prepare_seconds": 0.0})
            counts["operations"] += 1
            meta = state.ops[host][op_hash].operation_meta
            if not meta.did_succeed(_raise_if_not_complete=False):
                result.failed.setdefault(name, []).append(short_name(host.name))
            elif meta.did_change():
                result.changed.setdefault(name, []).append(short_name(host.name))
                counts["changed"] += 1
    result.roles = roles
    if result.failed or result.failed_hosts:
        result.exit_code = result.exit_code or 1
    return result


def _role_of(operation: str) -> str:
    """`deploys/registrar.py | Render …` -> `registrar`; site.py's own operations (checkpoints) -> `site`."""
    script = operation.split(" | ", 1)[0]
    return script.rsplit("/", 1)[-1].removesuffix(".py") if script.startswith("deploys/") else "site"


def _short(name: str) -> str:
    """`/…/site-packages/rtcstack/share/deploys/base.py | Render …` -> `deploys/base.py | Render …`: the same
    operation names whether rtcstack runs from a checkout or a wheel, from any directory."""
    prefix = str(deploy_script("site").parent.parent) + "/"
    return name[len(prefix):] if name.startswith(prefix) else name
