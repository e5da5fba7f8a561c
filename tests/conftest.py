"""Shared fixtures: the repository root, a copy of it to break inventories in, and the labs (brought up and
deployed once per session, or reused), which the verify suite (rtcstack.verify) checks too."""

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


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Mark `single` every lab test (integration or verify) that runs on the single-host lab because it is
    parametrized over both labs. The six-host lab and the scale lab carry the same tests across hosts; the
    installed-tool tests, which use the single lab by themselves, stay in the default run."""
    for item in items:
        if Path(str(item.fspath)).is_relative_to(PROJECT_ROOT / "tests/unit"):
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        for value in params.values():
            if value == SINGLE_INVENTORY or (isinstance(value, tuple) and value[:1] == (SINGLE_INVENTORY,)):
                item.add_marker(pytest.mark.single)
                break


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of inventories/ and group_data/ (no secrets) in a temporary project directory."""
    for folder in ("inventories", "group_data"):
        shutil.copytree(PROJECT_ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("*.secrets", "*.pki", "__pycache__"))
    return tmp_path


# --- the lab, for integration and verify tests --------------------------------------------------

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
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


@pytest.fixture(scope="session")
def lab_runner(request, tmp_path_factory):
    """Bring a lab up and deploy it once per session (reusing a lab that is already up)."""
    verify_only = request.config.getoption("--rtcstack-verify-only")
    tmp = tmp_path_factory.mktemp("deploys")

    def ensure(inventory: str) -> LabRun:
        if inventory not in _labs:
            if verify_only:
                _labs[inventory] = LabRun(inventory, None)
            else:
                rtcstack("lab", "up", inventory)
                first = deploy(inventory, tmp)
                assert first["returncode"] == 0, first["output"][-6000:]
                _labs[inventory] = LabRun(inventory, first)
        return _labs[inventory]

    ensure.tmp = tmp
    return ensure


@pytest.fixture(scope="session")
def prepare_inventory(lab_runner):
    """The verify suite's targets: their lab brought up and deployed first (unless --rtcstack-verify-only)."""
    return lab_runner
