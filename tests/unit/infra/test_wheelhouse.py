"""The wheelhouse: what the hosts get, in one canonical form, how two deploys at once share its cache, and which
changes of it a service restarts for."""

import hashlib
import json
import os
import time
import zipfile
from pathlib import Path

import pytest

from rtcstack.infra import wheelhouse
from rtcstack.infra.wheelhouse import _normalize, _write_wheel, code_digest, service_requirements, wheelhouse_digest
from tests.unit.processes import run_at_once

DEPENDENCIES = ["fastapi-1-py3-none-any.whl", "uvicorn-1-py3-none-any.whl"]
OWN = "rtcstack-1-py3-none-any.whl"


def test_hosts_get_the_service_extra_and_no_operator_tooling():
    names = {r.split("[")[0].split(">")[0].split("<")[0].split("=")[0] for r in service_requirements()}
    assert {"fastapi", "uvicorn", "sqlalchemy"} <= names
    assert not names & {"pyinfra", "locust", "matplotlib", "docker"}


def test_the_same_files_give_the_same_wheel_bytes_however_the_wheel_was_made(tmp_path):
    members = {"pkg/__init__.py": b"x = 1\n", "pkg-1.dist-info/METADATA": b"Name: pkg\n"}
    first, second = tmp_path / "a.whl", tmp_path / "b.whl"
    _write_wheel(first, members, "pkg-1.dist-info")
    with zipfile.ZipFile(second, "w") as archive:  # another order, other times, a stale RECORD
        for name in reversed(list(members)):
            archive.writestr(name, members[name])
        archive.writestr("pkg-1.dist-info/RECORD", "stale\n")
    _normalize(second)
    assert first.read_bytes() == second.read_bytes()
    record = zipfile.ZipFile(first).read("pkg-1.dist-info/RECORD").decode()
    assert "pkg/__init__.py,sha256=" in record and record.endswith("pkg-1.dist-info/RECORD,,\n")


def _deploy(cache: str, log: str) -> None:
    """One deploy's process building the wheelhouse in `cache`, with pip's download and rtcstack's own wheel
    replaced by slow fakes that log to `log` when they start and end; it logs the wheels its house holds."""
    os.environ["XDG_CACHE_HOME"] = cache

    def record(*event) -> None:
        with open(log, "a") as handle:
            handle.write(json.dumps([*event, time.time()]) + "\n")

    def download(*args: str) -> None:
        record("download", "start")
        for name in DEPENDENCIES:
            Path(args[args.index("-d") + 1], name).write_bytes(b"dependency")
            time.sleep(0.3)
        record("download", "end")

    def own_wheel(into: Path) -> None:
        record("own wheel", "start")
        time.sleep(0.3)
        (into / OWN).write_bytes(b"rtcstack")
        record("own wheel", "end")

    wheelhouse._pip, wheelhouse._own_wheel = download, own_wheel
    house = wheelhouse._build("service")
    record("house", sorted(p.name for p in house.glob("*.whl")))


def test_two_deploys_at_once_take_turns_at_the_wheelhouse_cache_and_both_get_every_wheel(tmp_path):
    """Two processes build the wheelhouse from the same moment: the second waits for the first (their steps do not
    interleave), finds the download complete instead of removing it, and both houses hold every wheel."""
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    assert run_at_once(_deploy, *((str(tmp_path / "cache"), str(log)) for log in logs)) == [0, 0]
    runs = [[json.loads(line) for line in log.read_text().splitlines()] for log in logs]
    steps = sorted((event[-1], n) for n, run in enumerate(runs) for event in run[:-1])
    order = [n for _, n in steps]
    assert order in (sorted(order), sorted(order, reverse=True)), steps
    assert [event[:2] for run in runs for event in run].count(["download", "start"]) == 1
    assert [run[-1][1] for run in runs] == [sorted([*DEPENDENCIES, OWN])] * 2


#: rtcstack's wheel in small: a service (rtcstack.web.portal), the domain it imports, a role and the deploy's data.
OWN_FILES = {
    "rtcstack/__init__.py": '__version__ = "1"\n',
    "rtcstack/web/__init__.py": "",
    "rtcstack/web/portal.py": "from ..domain import portal\n",
    "rtcstack/web/links.py": "",
    "rtcstack/web/templates/page.html": "<p>{{ name }}</p>\n",
    "rtcstack/domain/__init__.py": "",
    "rtcstack/domain/portal.py": "def scope():\n    from .rows import ROW\n",
    "rtcstack/domain/rows.py": "ROW = 1\n",
    "rtcstack/roles/__init__.py": "",
    "rtcstack/roles/media.py": "from ..domain import rows\n",
    "rtcstack/share/templates/media/etc/rtpengine/rtpengine.conf.j2": "port-min = 30000\n",
    "rtcstack-1.dist-info/METADATA": "Name: rtcstack\nVersion: 1\n",
}


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch) -> Path:
    """The wheelhouse cache of these tests: their own, not the operator's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(wheelhouse, "_WHEEL_CODE", {})  # (the same wheel bytes in another test's run)
    monkeypatch.setattr(wheelhouse, "_WHEEL_DIGESTS", {})
    return tmp_path / "cache"


def house(tmp_path: Path, changed: dict[str, str] | None = None) -> Path:
    """A wheelhouse of a dependency and rtcstack's wheel of OWN_FILES, with the files (or the dependency's
    bytes, `dependency`) in `changed`."""
    changed = dict(changed or {})
    folder = tmp_path / f"house-{len(list(tmp_path.glob('house-*')))}"
    folder.mkdir()
    (folder / DEPENDENCIES[0]).write_bytes(changed.pop("dependency", "fastapi").encode())
    members = {**OWN_FILES, **changed}
    _write_wheel(folder / OWN, {name: text.encode() for name, text in members.items()}, "rtcstack-1.dist-info")
    return folder


@pytest.mark.parametrize("change", [
    {"rtcstack/share/templates/media/etc/rtpengine/rtpengine.conf.j2": "port-min = 40000\n"},
    {"rtcstack/roles/media.py": "from ..domain import rows  # a role's change\n"},
    {"rtcstack/roles/sfu.py": ""},
    {"rtcstack-1.dist-info/METADATA": "Name: rtcstack\nVersion: 1\nSummary: new\n"},
])
def test_a_change_to_the_deploys_side_of_the_wheel_is_installed_but_leaves_the_services_code_unchanged(tmp_path, change):
    before, after = house(tmp_path), house(tmp_path, change)
    assert wheelhouse_digest(before) != wheelhouse_digest(after)
    assert code_digest(before, ["rtcstack.web.portal"]) == code_digest(after, ["rtcstack.web.portal"])


@pytest.mark.parametrize("change", [
    {"rtcstack/domain/rows.py": "ROW = 2\n"},  # imported inside a function of a module the portal imports
    {"rtcstack/web/portal.py": "from ..domain import portal  # changed\n"},
    {"rtcstack/web/__init__.py": "# a package runs before its modules\n"},
    {"rtcstack/__init__.py": '__version__ = "2"\n'},
    {"rtcstack/web/templates/page.html": "<p>{{ name }}!</p>\n"},
    {"dependency": "fastapi, another release"},
])
def test_a_change_to_what_the_service_loads_changes_its_code(tmp_path, change):
    before, after = house(tmp_path), house(tmp_path, change)
    assert code_digest(before, ["rtcstack.web.portal"]) != code_digest(after, ["rtcstack.web.portal"])


def test_a_module_only_another_service_loads_leaves_this_ones_code_unchanged(tmp_path):
    before, after = house(tmp_path), house(tmp_path, {"rtcstack/web/links.py": "LINKS = 2\n"})
    assert code_digest(before, ["rtcstack.web.portal"]) == code_digest(after, ["rtcstack.web.portal"])
    assert code_digest(before, ["rtcstack.web.links"]) != code_digest(after, ["rtcstack.web.links"])


def test_a_wheels_import_graph_is_read_once_and_kept_by_the_wheels_digest(tmp_path, own_cache, monkeypatch):
    """A no-op deploy builds the same wheel again: its graph comes from the cache, not from parsing every module."""
    first = code_digest(house(tmp_path), ["rtcstack.web.portal"])
    assert len(list((own_cache / "rtcstack/wheelhouse/code").glob("*.json"))) == 1
    wheelhouse._WHEEL_CODE.clear()
    monkeypatch.setattr(wheelhouse, "import_graph", lambda files: pytest.fail("the kept graph was not used"))
    assert code_digest(house(tmp_path), ["rtcstack.web.portal"]) == first


def test_a_kept_graph_cut_short_is_read_from_the_wheel_again_and_replaced(tmp_path, own_cache):
    """A deploy stopped while it wrote the kept file, or a file edited by hand, costs a parse, not every deploy."""
    first = code_digest(house(tmp_path), ["rtcstack.web.portal"])
    (kept,) = (own_cache / "rtcstack/wheelhouse/code").glob("*.json")
    for broken in ("", "[{\"rtcstack\": []}", "[1, 2]"):
        kept.write_text(broken)
        wheelhouse._WHEEL_CODE.clear()
        assert code_digest(house(tmp_path), ["rtcstack.web.portal"]) == first
        assert json.loads(kept.read_text())[0]["rtcstack.web.portal"]
    assert not list(kept.parent.glob("*.tmp"))


def test_the_cache_keeps_the_most_recently_used_graphs_and_forgets_the_rest(tmp_path, own_cache):
    """Each edit of a checkout builds another wheel: the cache keeps CACHE_KEEP graphs, and using one keeps it."""
    code = own_cache / "rtcstack/wheelhouse/code"
    first = house(tmp_path)
    code_digest(first, ["rtcstack.web.portal"])
    (kept_first,) = code.glob("*.json")
    os.utime(kept_first, ns=(10**9, 10**9))
    later = []
    for n in range(wheelhouse.CACHE_KEEP + 2):
        wheelhouse._WHEEL_CODE.clear()
        if n == 5:
            code_digest(first, ["rtcstack.web.portal"])  # the first wheel deployed again: its graph is used now
            os.utime(kept_first, ns=(2 * 10**9 + n, 2 * 10**9 + n))  # (times set: the file system's may be coarse)
        before = set(code.glob("*.json"))
        code_digest(house(tmp_path, {"rtcstack/domain/rows.py": f"ROW = {n + 10}\n"}), ["rtcstack.web.portal"])
        (new,) = set(code.glob("*.json")) - before
        os.utime(new, ns=(2 * 10**9 + n, 2 * 10**9 + n))
        later.append(new)
    assert sorted(code.glob("*.json")) == sorted([kept_first, *later[-(wheelhouse.CACHE_KEEP - 1):]])


def test_pruning_removes_the_least_recently_used_files_and_folders_only(tmp_path):
    for age, name in enumerate(["own-a", "own-b", "own-c", "own-d"]):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.whl").write_bytes(b"w")
        os.utime(tmp_path / name, (1000 + age, 1000 + age))
    (tmp_path / "house").mkdir()
    os.utime(tmp_path / "house", (1, 1))  # not matched: never pruned, however old
    wheelhouse.prune(tmp_path, "own-*", keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["house", "own-c", "own-d"]


def test_each_wheel_is_hashed_once_for_every_service_and_again_once_rewritten(tmp_path, monkeypatch):
    """Four services on each host ask for the house's digest and their code's: each wheel is read once."""
    folder = house(tmp_path)
    read = []
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda path: read.append(path.name) or real(path))
    digests = {(wheelhouse_digest(folder), code_digest(folder, [entry]))
               for entry in ["rtcstack.web.portal", "rtcstack.web.links"] * 4}
    # (rtcstack's wheel once more, the first time its import graph is read: from the bytes its key was taken of)
    assert sorted(read) == sorted([*(p.name for p in folder.glob("*.whl")), OWN]) and len(digests) == 2
    before = wheelhouse_digest(folder)
    dependency = folder / DEPENDENCIES[0]
    times = dependency.stat().st_mtime_ns
    dependency.write_bytes(dependency.read_bytes().upper())  # the same size, in place (the same inode)
    os.utime(dependency, ns=(times, times))  # and the same modification time: its change time tells
    assert wheelhouse_digest(folder) != before


def test_a_wheel_replaced_after_it_was_hashed_keeps_its_graph_under_its_own_digest(tmp_path, own_cache, monkeypatch):
    """Another deploy may replace the house's wheel between this run's hash of it and its read: the graph read is
    kept under the digest of the bytes it was read from, never under the old wheel's."""
    old, new = house(tmp_path), house(tmp_path, {"rtcstack/web/portal.py": "from ..roles import media\n"})
    old_digest = wheelhouse._sha256(old / OWN)
    monkeypatch.setattr(wheelhouse, "_sha256", lambda wheel: old_digest)  # hashed before the replacement
    graph, _ = wheelhouse._own_wheel_code(new / OWN)
    assert "rtcstack.roles.media" in graph["rtcstack.web.portal"]
    kept = {p.stem for p in (own_cache / "rtcstack/wheelhouse/code").glob("*.json")}
    assert kept == {hashlib.sha256((new / OWN).read_bytes()).hexdigest()[:32]}
