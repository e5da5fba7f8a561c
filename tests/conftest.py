"""Shared fixtures: the repository root, a copy of it to break inventories in, and the labs (brought up and
deployed once per session, side by side from its start when it needs several, or reused), which the verify suite
(rtcstack.verify) checks too."""

# pyinfra_cli monkey-patches for gevent on import; it must precede anything importing ssl.
import pyinfra_cli  # noqa: F401, I001

import shutil
from pathlib import Path

import pytest

from tests import PROJECT_ROOT

SHIPPED_INVENTORIES = ["inventories/lab.py", "inventories/single.py", "inventories/production.example.py"]
LAB_INVENTORIES = ["inventories/lab.py", "inventories/single.py"]
#: The single-host lab's copies of the lab tests: marked `single` (left out of the default run, which CI runs).
SINGLE_INVENTORY = "inventories/single.py"


def pytest_configure(config):
    config.addinivalue_line("markers", "brings_up(inventory): needs that lab up and deployed; the session starts "
                                       "the bring-ups of all the labs its tests need at once (see lab_runner)")


#: Lab inventories a test may be parametrized with: the two labs CI runs, the scale lab and the cloud lab.
LABS = (*LAB_INVENTORIES, "inventories/scale.py", "inventories/cloud.py")


def _lab_of(value) -> str | None:
    """The lab inventory a test parameter names: the inventory itself, or the verify suite's (inventory, host)."""
    inventory = value[0] if isinstance(value, tuple) and value else value
    return inventory if isinstance(inventory, str) and inventory in LABS else None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark `brings_up(inventory)` every lab test (integration or verify) parametrized with a lab inventory, so
    the session knows which labs to bring up; tests on one lab of their own declare the marker themselves. Mark
    `single` those that run on the single-host lab because they are parametrized over both labs. The six-host
    lab and the scale lab carry the same tests across hosts; the installed-tool tests, which use the single lab
    by themselves, stay in the default run."""
    for item in items:
        if Path(str(item.fspath)).is_relative_to(PROJECT_ROOT / "tests/unit"):
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        inventory = next(filter(None, map(_lab_of, params.values())), None)
        if inventory:
            item.add_marker(pytest.mark.brings_up(inventory))
        if inventory == SINGLE_INVENTORY:
            item.add_marker(pytest.mark.single)


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of inventories/ and group_data/ (no secrets, no lab keys: a lab coming up beside the tests rewrites
    them) in a temporary project directory."""
    for folder in ("inventories", "group_data"):
        shutil.copytree(PROJECT_ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("*.secrets", "*.pki", "*.ssh", "__pycache__"))
    return tmp_path


# --- the lab, for integration and verify tests --------------------------------------------------

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from concurrent.futures import Future, ThreadPoolExecutor, wait  # noqa: E402
from dataclasses import dataclass  # noqa: E402

RTCSTACK = [sys.executable, "-m", "rtcstack.cli"]


def rtcstack(*args: str, check: bool = True, timeout: float = 1200) -> subprocess.CompletedProcess:
    """Run the rtcstack CLI from the repository root, as an operator would."""
    result = subprocess.run([*RTCSTACK, *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"rtcstack {' '.join(args)} exited {result.returncode}:\n{result.stdout[-4000:]}\n"
                             f"{result.stderr[-4000:]}")
    return result


def deploy(inventory: str, tmp: Path, *extra: str) -> dict:
    """Deploy and return the summary rtcstack wrote from pyinfra's State."""
    summary = tmp / f"summary-{Path(inventory).stem}-{len(list(tmp.iterdir()))}.json"
    result = rtcstack("deploy", inventory, "--summary-json", str(summary), *extra, check=False)
    data = json.loads(summary.read_text()) if summary.exists() else {}
    data["output"] = result.stdout + result.stderr
    data["returncode"] = result.returncode
    return data


@dataclass
class LabRun:
    inventory: str
    first_deploy: dict | None


_labs: dict[str, LabRun] = {}
#: The bring-ups started with the session, by inventory (see pytest_collection_finish).
_bringups: dict[str, Future] = {}
_DEPLOYS = pytest.StashKey[Path]()


def deploys_dir(config) -> Path:
    """The session's directory of deploy summaries, the first deploys' included (made with the factory the
    tmp_path_factory fixture returns: the bring-ups start before any fixture)."""
    if _DEPLOYS not in config.stash:
        config.stash[_DEPLOYS] = config._tmp_path_factory.mktemp("deploys")
    return config.stash[_DEPLOYS]


def bring_up(inventory: str, tmp: Path) -> LabRun:
    """`rtcstack lab up` and the first deploy, which must succeed; its summary is the lab's first_deploy."""
    rtcstack("lab", "up", inventory)
    first = deploy(inventory, tmp)
    assert first["returncode"] == 0, first["output"][-6000:]
    return LabRun(inventory, first)


def labs_needed(items) -> list[str]:
    """The lab inventories the items bring up (their `brings_up` markers), in the order they first need them."""
    return list(dict.fromkeys(mark.args[0] for item in items for mark in item.iter_markers("brings_up")))


def pytest_collection_finish(session):
    """When the selected tests need two labs or more, start every one's bring-up now, side by side in threads:
    the later labs' bring-ups overlap the first one's instead of landing in the middle of the session, beside
    timing-sensitive tests. The threads are gevent's (pyinfra_cli patches threading): they run whenever the main
    thread waits, as lab_runner does for all of them at the first lab test (the first tests CI runs). A session
    that ends early exits once they are done (the interpreter joins the pool's threads): no deploy outlives it."""
    config = session.config
    if config.option.collectonly or session.testsfailed or config.getoption("--rtcstack-verify-only"):
        return
    inventories = labs_needed(session.items)
    if len(inventories) < 2:
        return
    tmp = deploys_dir(config)
    pool = ThreadPoolExecutor(max_workers=len(inventories), thread_name_prefix="lab-up")
    _bringups.update({inventory: pool.submit(bring_up, inventory, tmp) for inventory in inventories})
    pool.shutdown(wait=False)


def _brought_up(inventory: str) -> LabRun:
    """The lab's bring-up started with the session, once every such bring-up is done (none runs beside the
    tests); it fails here as it would have in the foreground."""
    wait(_bringups.values())
    return _bringups[inventory].result()


@pytest.fixture(scope="session")
def lab_runner(request):
    """Bring a lab up and deploy it once per session (reusing a lab that is already up), or take the bring-up
    the session started with."""
    verify_only = request.config.getoption("--rtcstack-verify-only")
    tmp = deploys_dir(request.config)

    def ensure(inventory: str) -> LabRun:
        if inventory not in _labs:
            if verify_only:
                _labs[inventory] = LabRun(inventory, None)
            elif inventory in _bringups:
                _labs[inventory] = _brought_up(inventory)
            else:
                _labs[inventory] = bring_up(inventory, tmp)
        return _labs[inventory]

    ensure.tmp = tmp
    return ensure


@pytest.fixture(scope="session")
def prepare_inventory(lab_runner):
    """The verify suite's targets: their lab brought up and deployed first (unless --rtcstack-verify-only)."""
    return lab_runner
