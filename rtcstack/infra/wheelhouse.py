"""The wheelhouse rtcstack's web services are installed from: rtcstack's own wheel (without its dependencies)
and the wheels of its `service` extra for the hosts' Python (Debian 12: CPython 3.11 on x86_64), gathered
once per run on the operator's machine. Hosts install from it offline (`pip install --no-index`): they never
reach PyPI, and get nothing the services do not import (no pyinfra, Locust or matplotlib). Load generator
hosts (role `loadgen`) get the same wheel with the wheels of the `loadgen` extra instead (Locust), in a venv
of their own.

rtcstack's wheel is built from the source checkout when there is one (reproducibly: the same source gives
the same bytes, so an unchanged tree uploads nothing), else packed again from the installed distribution's
files (an operator's `pip install rtcstack`).

Two digests of a house: `wheelhouse_digest`, of every wheel, says whether a venv holds it; `code_digest`, of
what one service can load, says whether that service restarts. rtcstack's wheel is the whole tool, with the
deploy's templates and modules: a change to those is installed but restarts no service.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable
from functools import cache
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from ..locks import locked
from ..resources import user_cache
from .imports import closure, import_graph, module_name

#: The hosts' interpreter: Debian 12's python3.
HOST_PYTHON = {"platform": "manylinux2014_x86_64", "python_version": "3.11", "implementation": "cp", "abi": "cp311"}
#: Where the hosts keep the wheelhouse and the services' venv.
HOST_WHEELS = "/opt/rtcstack/wheels"
HOST_VENV = "/opt/rtcstack/venv"
#: The extras a wheelhouse can be built for: the services' and the load generators'.
EXTRAS = ("service", "loadgen")
#: Zip timestamps of the wheel we build (1980-01-01, the zip epoch): the same source, the same bytes.
REPRODUCIBLE_EPOCH = "315532800"
#: How many wheels built from a source checkout, and how many kept import graphs, the cache holds: the most
#: recently used (each edit of a checkout builds another wheel: without a bound the cache would grow with them).
CACHE_KEEP = 8


class WheelhouseError(Exception):
    """The wheelhouse cannot be built; the message says what to do."""


def cache_root() -> Path:
    return user_cache() / "wheelhouse"


def service_requirements(extra: str = "service") -> list[str]:
    """rtcstack's `extra` (`service` or `loadgen`), from its installed metadata, without the extra's marker."""
    out = []
    for line in metadata.requires("rtcstack") or []:
        requirement = Requirement(line)
        if requirement.marker and requirement.marker.evaluate({"extra": extra}) and \
                not requirement.marker.evaluate({"extra": ""}):
            requirement.marker = None
            out.append(str(requirement))
    if not out:
        raise WheelhouseError(f"rtcstack's metadata names no `{extra}` extra: reinstall rtcstack")
    return sorted(out)


def _pip(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                            capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-8:])
        raise WheelhouseError(f"pip {args[0]} failed:\n{tail}")


def _source_tree() -> Path | None:
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "rtcstack").is_dir() else None


#: What goes into rtcstack's wheel from a source checkout (the rest of the tree is the operator's side).
WHEEL_SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "rtcstack", "deploys", "templates", "loadtests")


def _source_digest(source: Path) -> str:
    """A digest of every file the wheel is built from: an unchanged tree is not built again."""
    digest = hashlib.sha256()
    for top in WHEEL_SOURCES:
        for path in sorted((source / top).rglob("*")) if (source / top).is_dir() else [source / top]:
            if path.is_file() and "__pycache__" not in path.parts and path.exists():
                digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _own_wheel(into: Path) -> None:
    source = _source_tree()
    if source is None:
        _repack_installed(into)
        return
    built = cache_root() / f"own-{_source_digest(source)}"
    if list(built.glob("*.whl")):
        os.utime(built)  # (used now: pruning keeps the most recently used)
    else:
        # Built beside the cache entry and renamed into it: an interrupted build never leaves a broken wheel there.
        cache_root().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".building-", dir=cache_root()) as staging:
            _build_own_wheel(source, Path(staging))
            built.mkdir(parents=True, exist_ok=True)
            for wheel in Path(staging).glob("*.whl"):
                os.replace(wheel, built / wheel.name)
        prune(cache_root(), "own-*")
    for wheel in built.glob("*.whl"):
        shutil.copyfile(wheel, into / wheel.name)


#: Files pip adds to an installed distribution that are not part of the wheel it came from.
_INSTALLER_FILES = ("INSTALLER", "REQUESTED", "direct_url.json", "RECORD")


def _write_wheel(path: Path, members: dict[str, bytes], info: str) -> None:
    """A wheel of `members` in one canonical form (sorted, fixed times and modes, a fresh RECORD): the same
    files give the same bytes however the wheel was made, so the hosts see no change."""
    import base64
    import zipfile

    record = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(members):
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr, entry.compress_type = 0o644 << 16, zipfile.ZIP_DEFLATED
            archive.writestr(entry, members[name])
            digest = base64.urlsafe_b64encode(hashlib.sha256(members[name]).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={digest},{len(members[name])}")
        entry = zipfile.ZipInfo(f"{info}/RECORD", date_time=(1980, 1, 1, 0, 0, 0))
        entry.external_attr, entry.compress_type = 0o644 << 16, zipfile.ZIP_DEFLATED
        archive.writestr(entry, "\n".join([*record, f"{info}/RECORD,,"]) + "\n")


def _normalize(wheel: Path) -> None:
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        members = {n: archive.read(n) for n in archive.namelist() if not n.endswith(".dist-info/RECORD")}
    info = next(n.split("/")[0] for n in members if n.split("/")[0].endswith(".dist-info"))
    _write_wheel(wheel, members, info)


def _repack_installed(into: Path) -> None:
    """The wheel of the installed rtcstack (an operator's `pip install rtcstack`), packed again from the files
    its RECORD lists: the hosts get exactly the code the operator runs."""
    dist = metadata.distribution("rtcstack")
    info = f"rtcstack-{dist.version}.dist-info"
    members = {}
    for entry in dist.files or []:
        name = str(entry)
        if "__pycache__" in entry.parts or name.startswith("..") or (
                entry.parts[0] == info and entry.name in _INSTALLER_FILES):
            continue
        members[name] = Path(dist.locate_file(entry)).read_bytes()
    _write_wheel(into / f"rtcstack-{dist.version}-py3-none-any.whl", members, info)


def _build_own_wheel(source: Path, into: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="rtcstack-build-") as build:
        # A copy of the tree without its build/ and egg-info leftovers, so nothing stale slips into the wheel.
        tree = Path(build) / "src"
        tree.mkdir()
        for top in WHEEL_SOURCES:
            if (source / top).is_dir():
                shutil.copytree(source / top, tree / top, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            elif (source / top).exists():
                shutil.copyfile(source / top, tree / top)
        env = {**os.environ, "SOURCE_DATE_EPOCH": REPRODUCIBLE_EPOCH}
        result = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "wheel", "--no-deps",
                                 "--no-build-isolation", "-q", "-w", str(into), str(tree)],
                                capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise WheelhouseError(f"building rtcstack's wheel failed:\n{result.stderr.strip()[-2000:]}")
    for wheel in into.glob("*.whl"):
        _normalize(wheel)


#: pyinfra runs each host's deploy code side by side (gevent): the first hosts to need the wheelhouse would each
#: start building it into the same directories.
_BUILD_LOCK = threading.Lock()


def build(extra: str = "service") -> Path:
    """The wheelhouse directory of `extra` for this run (built once per process, by the first host that needs it)."""
    with _BUILD_LOCK:
        return _build(extra)


@cache
def _build(extra: str) -> Path:
    """Download what is missing and write the house, holding the cache's lock file: another rtcstack process
    (two deploys at once) would remove a download in progress or copy over a wheel being written. It waits,
    then finds the downloads complete and the house as it wants it. The lock lies beside the houses, not in
    one: a house is uploaded whole."""
    root = cache_root()
    with locked(root / ".lock"):
        return _fill(root, extra)


def _fill(root: Path, extra: str) -> Path:
    """The house of `extra` under `root`: the dependencies (downloaded unless complete) and rtcstack's own wheel,
    nothing stale."""
    requirements = service_requirements(extra)
    key = hashlib.sha256(repr((requirements, HOST_PYTHON)).encode()).hexdigest()[:16]
    dependencies = root / f"dependencies-{key}"
    if not (dependencies / ".complete").exists():
        shutil.rmtree(dependencies, ignore_errors=True)
        dependencies.mkdir(parents=True)
        _pip("download", "-q", "--only-binary=:all:", "--platform", HOST_PYTHON["platform"], "--python-version",
             HOST_PYTHON["python_version"], "--implementation", HOST_PYTHON["implementation"], "--abi",
             HOST_PYTHON["abi"], "-d", str(dependencies), *requirements)
        (dependencies / ".complete").write_text("\n".join(requirements) + "\n")
    house = root / ("house" if extra == "service" else f"house-{extra}")
    with tempfile.TemporaryDirectory(prefix="rtcstack-wheel-") as own:
        _own_wheel(Path(own))
        wanted = {p.name: p for p in [*dependencies.glob("*.whl"), *Path(own).glob("*.whl")]}
        house.mkdir(parents=True, exist_ok=True)
        for stale in [*(set(p.name for p in house.glob("*.whl")) - set(wanted)), *(p.name for p in house.glob(".*.tmp"))]:
            (house / stale).unlink()  # (a wheel no longer wanted, or a copy a stopped run left half written)
        for name, path in wanted.items():
            target = house / name
            if not target.exists() or target.read_bytes() != path.read_bytes():
                # Written beside it and renamed over it: a reader outside the lock (a service's code digest)
                # sees the old wheel or the new one, and a new file, never one rewritten in place.
                staging = house / f".{name}.tmp"
                shutil.copyfile(path, staging)
                os.replace(staging, target)
    return house


def prune(directory: Path, pattern: str, keep: int = CACHE_KEEP) -> None:
    """Remove all but the `keep` most recently used entries of `directory` matching `pattern` (their times are
    touched when used). Another rtcstack process may remove or add entries meanwhile: whatever is gone is gone."""
    def used(entry: Path) -> tuple[int, str]:
        try:
            return entry.stat().st_mtime_ns, entry.name
        except OSError:
            return 0, entry.name

    for stale in sorted(directory.glob(pattern), key=used, reverse=True)[keep:]:
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


#: Each wheel's SHA-256 once per run, by its path and file identity (size, mtime, inode): every service on every
#: host asks about the same house, for its record and for its code; a wheel written again is hashed again.
_WHEEL_DIGESTS: dict[tuple[str, int, int, int, int, int], bytes] = {}


def _sha256(wheel: Path) -> bytes:
    stat = wheel.stat()
    key = (str(wheel), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, stat.st_dev)
    if key not in _WHEEL_DIGESTS:
        _WHEEL_DIGESTS[key] = hashlib.sha256(wheel.read_bytes()).digest()
    return _WHEEL_DIGESTS[key]


def _wheel_digest(wheel: Path) -> bytes:
    return wheel.name.encode() + b"\0" + _sha256(wheel)


def wheelhouse_digest(house: Path) -> str:
    """SHA-256 of a wheelhouse (its wheels' names and contents): a venv that holds another must install it."""
    return hashlib.sha256(b"".join(_wheel_digest(wheel) for wheel in sorted(house.glob("*.whl")))).hexdigest()


def code_digest(house: Path, entries: Iterable[str]) -> str:
    """SHA-256 of the code a service started from the modules `entries` can load: every dependency wheel, and
    of rtcstack's own wheel the modules in the entries' import closure and every file that is not Python (page
    templates, catalogs, static files), but nothing of rtcstack/share/ (the deploy's data) or the wheel's
    metadata. Equal digests: the service runs what it ran, whatever else of the tool changed."""
    parts = []
    for wheel in sorted(house.glob("*.whl")):
        if wheel.name.startswith("rtcstack-"):
            graph, members = _own_wheel_code(wheel)
            loaded = closure(graph, entries)
            digest = hashlib.sha256()
            for name, member in members.items():
                if not name.endswith(".py") or module_name(name) in loaded:
                    digest.update(name.encode() + b"\0" + member)
            parts.append(digest.digest())
        else:
            parts.append(_wheel_digest(wheel))
    return hashlib.sha256(b"".join(parts)).hexdigest()


#: rtcstack's wheels read in this run, by their SHA-256: every service on every host asks about the same one.
_WHEEL_CODE: dict[str, tuple[dict[str, set[str]], dict[str, bytes]]] = {}


def _own_wheel_code(wheel: Path) -> tuple[dict[str, set[str]], dict[str, bytes]]:
    """rtcstack's wheel as a service sees it: the import graph of its modules, and each member's SHA-256 by name
    (in name order), without rtcstack/share/ and the metadata. Kept in the cache beside the wheels, by the
    wheel's digest: reading every module's imports costs half a second, which a no-op deploy need not pay. A kept
    file that cannot be read (cut short, edited) is read from the wheel again and replaced."""
    import io
    import json
    import zipfile

    key = _sha256(wheel).hex()[:32]
    if key in _WHEEL_CODE:
        return _WHEEL_CODE[key]
    kept = cache_root() / "code" / f"{key}.json"
    try:
        graph, members = json.loads(kept.read_text())
        _WHEEL_CODE[key] = ({name: set(names) for name, names in graph.items()},
                            {name: bytes.fromhex(digest) for name, digest in members.items()})
    except (OSError, ValueError, TypeError, AttributeError):
        pass  # (none kept yet, or not whole)
    else:
        with contextlib.suppress(OSError):
            os.utime(kept)  # (used now: pruning keeps the most recently used)
        return _WHEEL_CODE[key]
    # The graph is read from the bytes its key names: a wheel replaced since it was hashed is hashed again.
    data = wheel.read_bytes()
    key = hashlib.sha256(data).hexdigest()[:32]
    kept = cache_root() / "code" / f"{key}.json"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = sorted(name for name in archive.namelist() if not name.startswith("rtcstack/share/")
                       and not name.split("/")[0].endswith(".dist-info"))
        content = {name: archive.read(name) for name in names}
    graph = import_graph({name: text.decode() for name, text in content.items() if name.endswith(".py")})
    members = {name: hashlib.sha256(text).digest() for name, text in content.items()}
    kept.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=kept.parent, delete=False, suffix=".tmp") as staging:
        try:
            json.dump([{name: sorted(names) for name, names in graph.items()},
                       {name: digest.hex() for name, digest in members.items()}], staging)
            staging.flush()
            os.fsync(staging.fileno())
        except BaseException:
            os.unlink(staging.name)
            raise
    os.replace(staging.name, kept)  # (whole or not at all: a concurrent deploy reads one or the other)
    prune(kept.parent, "*.json")
    _WHEEL_CODE[key] = graph, members
    return _WHEEL_CODE[key]
