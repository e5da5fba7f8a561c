"""Build the Deployment model from a pyinfra inventory and its group_data, without connecting."""

from __future__ import annotations

import difflib
import os
import traceback
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..config.problems import ConfigError, Problem
from ..config.settings import HostSettings
from ..roles import ROLES
from .deployment import SECRETS, Deployment, Host
from .secrets import SecretStore, repository_of

#: Data keys that belong to pyinfra and its connectors, not to rtcstack.
PYINFRA_PREFIXES = ("_", "ssh_", "docker_", "dockerssh_", "winrm_", "local_", "chroot_", "vagrant_", "terraform_")
#: pyinfra data naming the inventory file, for deploys run with plain pyinfra:
#: `pyinfra INVENTORY deploys/site.py --data rtcstack_inventory=INVENTORY`.
INVENTORY_DATA_KEY = "rtcstack_inventory"
HOST_KEYS = frozenset(HostSettings.model_fields)
DEPLOYMENT_KEYS = frozenset(Deployment.model_fields) - {"hosts", "secrets"}
#: Deployment keys read from the hosts of one role only (they may live in group_data/<role>.py).
ROLE_SECTIONS = frozenset(ROLES)


def short_name(pyinfra_name: str) -> str:
    """`@docker/db1` -> `db1`; plain host names stay as they are."""
    return pyinfra_name.rsplit("/", 1)[-1] if pyinfra_name.startswith("@") else pyinfra_name


def load_inventory(inventory_path: str | os.PathLike):
    """The pyinfra Inventory exactly as `pyinfra INVENTORY ...` would build it from the project root, but for files to
    and from docker hosts, which go through `docker exec` (infra.docker_connector)."""
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory_from_files
    from pyinfra_cli.util import PYTHON_CODES

    from ..infra.docker_connector import stream_docker_files

    path = Path(inventory_path)
    if not path.is_file():
        raise ConfigError([Problem("inventory", str(path), "file not found", "give the path of an inventory .py file")],
                          str(inventory_path))
    root = repository_of(path)
    PYTHON_CODES.clear()  # pyinfra caches compiled files by name; read the inventory as it is now
    try:
        # pyinfra reads inventory files with a State in context; lend it one outside a deploy.
        with ctx_state.use(ctx_state.get() or State()):
            inventory = make_inventory_from_files(str(path.resolve()), cwd=str(root))
    except Exception as exc:  # a Python error in the inventory or group_data
        raise ConfigError([Problem("inventory", str(path), f"could not be loaded: {_describe_error(exc)}",
                                   "fix the Python error in the inventory or group_data file named above")],
                          str(inventory_path)) from exc
    stream_docker_files(inventory)  # (before any State connects the hosts)
    return inventory


def _describe_error(exc: BaseException) -> str:
    """`group_data/all.py line 3: NameError: name 'x' is not defined`: the error inside pyinfra's wrapper
    (whose own str() may fail), with the operator's file and line where it happened."""
    inner = getattr(exc, "exception", None) or exc.__cause__ or exc
    try:
        text = str(inner)
    except Exception:  # noqa: BLE001  (a wrapper whose __str__ breaks: name it at least)
        text = repr(inner)
    where = ""
    if isinstance(inner, SyntaxError) and inner.filename:
        where = f"{_shown(inner.filename)} line {inner.lineno}: "
        text = inner.msg
    else:
        frames = traceback.extract_tb(inner.__traceback__) if inner.__traceback__ else []
        own = [f for f in frames if "site-packages" not in f.filename and "/rtcstack/" not in f.filename
               and not f.filename.startswith("<")]
        if own:
            where = f"{_shown(own[-1].filename)} line {own[-1].lineno}: "
    return f"{where}{type(inner).__name__}: {text}"


def _shown(filename: str) -> str:
    """A file as the operator knows it: relative to the current directory when it is below it."""
    try:
        return str(Path(filename).resolve().relative_to(Path.cwd()))
    except ValueError:
        return filename


def load(inventory_path: str | os.PathLike, secrets: dict[str, str] | None = None) -> Deployment:
    """Validate an inventory file; raises ConfigError listing every problem. `secrets` replaces the store
    beside the inventory (tests); `Site.load` is the same plus the inventory, the store and the PKI."""
    inventory = load_inventory(inventory_path)
    if secrets is None:
        secrets = store_values(inventory_path, inventory)
    return from_inventory(inventory, secrets, source=str(inventory_path))


def store_values(inventory_path: str | os.PathLike, inventory) -> dict[str, str]:
    """The secrets beside an inventory (a lab inventory's store is made on first use)."""
    return SecretStore.for_inventory(inventory_path).values_for_check(is_lab_inventory(inventory), list(SECRETS))


def is_lab_inventory(inventory) -> bool:
    """A lab inventory carries `lab` settings (its secrets are generated on first use)."""
    return any(host.data.get("lab") for host in inventory)


def from_inventory(inventory, secrets: dict[str, str], source: str = "inventory") -> Deployment:
    problems: list[Problem] = []
    hosts: dict[str, dict[str, Any]] = {}
    values: dict[str, dict[str, Any]] = {}  # key -> {host name: value}
    role_hosts: dict[str, set[str]] = {role: set() for role in ROLES}
    unknown: dict[str, dict[str, Any]] = {}  # key -> {host name: value}

    if not list(inventory):
        raise ConfigError([Problem("inventory", source, "has no hosts",
                                   "put hosts in the role groups, e.g. `registrar = [(\"sip1.example.net\", "
                                   "{\"private_address\": \"10.0.0.12\"})]`")], source)
    own_group = Path(source).stem  # pyinfra puts every host in a group named after the inventory file
    strange: dict[str, list[str]] = {}  # group -> hosts, for groups that are no role
    for host in inventory:
        name = short_name(host.name)
        data = host.data.dict()
        roles = tuple(role for role in ROLES if role in host.groups)
        for group in sorted(g for g in set(host.groups) - set(ROLES) - {own_group, "all"} if not g.startswith("@")):
            strange.setdefault(group, []).append(name)
        for role in roles:
            role_hosts[role].add(name)
        host_fields: dict[str, Any] = {"name": name, "roles": roles}
        for key, value in data.items():
            if key.startswith(PYINFRA_PREFIXES) or key == INVENTORY_DATA_KEY:
                continue
            if key in HOST_KEYS:
                host_fields[key] = value
            elif key in DEPLOYMENT_KEYS:
                values.setdefault(key, {})[name] = value
            else:
                unknown.setdefault(key, {})[name] = value
        hosts[name] = host_fields
    problems += [_unknown_key(key, by_host) for key, by_host in unknown.items()]
    problems += [_unknown_group(group, names) for group, names in strange.items()]

    deployment_fields: dict[str, Any] = {}
    for key, by_host in values.items():
        if key in ROLE_SECTIONS and role_hosts[key]:
            by_host = {h: v for h, v in by_host.items() if h in role_hosts[key]}
            expected = role_hosts[key]
        else:
            expected = set(hosts)
        distinct = {repr(v) for v in by_host.values()}
        unset = sorted(expected - set(by_host))
        if len(distinct) > 1 or (by_host and unset):
            shown = "; ".join(f"{h}: {v!r}" for h, v in sorted(by_host.items())[:4])
            if unset:
                shown += f"; unset on {', '.join(unset[:4])}"
            problems.append(Problem(key, shown, "differs between hosts, but it is one setting for the whole deployment",
                                    f"set {key} once, in group_data/all.py" + (f" or group_data/{key}.py" if key in ROLE_SECTIONS else "")))
        if by_host:
            deployment_fields[key] = next(iter(by_host.values()))

    raw = {**deployment_fields, "hosts": hosts, "secrets": secrets}
    try:
        deployment = Deployment.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_from_validation_error(exc, raw))
        raise ConfigError(problems, source) from None
    problems.extend(deployment.problems())
    if problems:
        raise ConfigError(problems, source)
    return deployment


def _unknown_group(group: str, hosts: list[str]) -> Problem:
    close = difflib.get_close_matches(group, ROLES, n=1, cutoff=0.5)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return Problem(f"groups.{group}", hosts[:4], "is not a role: rtcstack deploys nothing for it (roles: "
                   f"{', '.join(ROLES)})", f"{hint}rename the group to a role, or remove it")


def _unknown_key(key: str, by_host: dict[str, Any]) -> Problem:
    known = sorted(HOST_KEYS | DEPLOYMENT_KEYS)
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    names = sorted(by_host)
    where = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return Problem(key, _short(next(iter(by_host.values()))), f"is not an rtcstack setting (given for {where})",
                   f"{hint}remove it, or see the settings reference in README.md")


def _short(value: Any) -> Any:
    text = repr(value)
    return value if len(text) <= 60 else text[:57] + "..."


def _from_validation_error(exc: ValidationError, raw: dict[str, Any]) -> list[Problem]:
    out = []
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        key = ".".join(loc)
        value = None if error["type"] == "missing" else error.get("input")
        if loc and loc[0] == "secrets":
            value = None
        what = error["msg"].removeprefix("Value error, ")
        out.append(Problem(key, _short(value), what[0].lower() + what[1:], _fix_for(loc, error["type"])))
    return out


def _fix_for(loc: list[str], error_type: str) -> str:
    description = _describe(loc)
    if error_type == "missing":
        return f"set {'.'.join(loc[-1:] if loc[0] == 'hosts' else loc)}" + (f" ({description})" if description else "")
    if error_type == "extra_forbidden":
        return "remove it, or check its spelling against the settings reference in README.md"
    key = ".".join(loc)
    return f"set {key} to a valid value" + (f" ({description})" if description else "")


def _describe(loc: list[str]) -> str:
    """The description of the field a validation error location points at."""
    model: Any = Deployment
    if loc and loc[0] == "hosts":
        model, loc = Host, loc[2:]
    description = ""
    for part in loc:
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            break
        field = fields[part]
        description = field.description or ""
        annotation = field.annotation
        model = next((a for a in getattr(annotation, "__args__", (annotation,)) if hasattr(a, "model_fields")), None)
        if model is None:
            break
    return description.rstrip(".")
