"""rtcstack as an operator uses it: a wheel installed into its own venv, run from the operator's repository
(inventory, group_data, secrets and PKI there, nothing from this checkout), deploying over SSH.

The operator's inventory puts every role on the single lab's host `aio1`, reached over SSH with the lab's key
instead of `@docker/aio1`, and its group_data is the lab's without the `lab` section plus one changed setting
(journald's size), so the first SSH deploy has real work to do. The module's teardown deploys the lab again
from the checkout, which puts the setting back for the other tests sharing the lab.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

from tests import PROJECT_ROOT
from tests.conftest import deploy

INVENTORY = "inventories/single.py"

pytestmark = [pytest.mark.integration, pytest.mark.brings_up(INVENTORY)]

HOST = "aio1"
#: The setting the operator changes (the lab keeps the default, 512M), so the first SSH deploy changes journald.
OPERATOR_SETTINGS = 'system = {"journald_max_use": "256M"}'
#: Files the deploy, the edge, the database migrations and `rtcstack verify` need from the wheel.
SHIPPED = ["rtcstack/share/deploys/site.py", "rtcstack/share/templates/edge/etc/nginx/nginx.conf.j2",
           "rtcstack/db/migrations/script.py.mako", "rtcstack/verify/plugin.py"]
TIMINGS: dict[str, float] = {}


def _timed(step: str, command: list[str], **kwargs) -> subprocess.CompletedProcess:
    start = time.monotonic()
    result = subprocess.run(command, check=False, capture_output=True, text=True, **kwargs)
    TIMINGS[step] = time.monotonic() - start
    return result


def _env() -> dict[str, str]:
    """The operator's environment: nothing on PYTHONPATH that could import rtcstack from this checkout."""
    return {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}


def _can_build_offline() -> bool:
    """Whether this interpreter's setuptools builds a wheel by itself (pyproject needs setuptools>=68; its
    bdist_wheel came from the `wheel` package until setuptools 70.1)."""
    try:
        import setuptools
    except ImportError:
        return False
    major, minor = (int(part) for part in setuptools.__version__.split(".")[:2])
    if (major, minor) >= (70, 1):
        return True
    try:
        import wheel  # noqa: F401
    except ImportError:
        return False
    return major >= 68


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from this checkout."""
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-w", str(out)]
    # Without build isolation nothing is fetched; with it pip gets setuptools from the configured index, as
    # scripts/bootstrap's `pip install -e .` does.
    if _can_build_offline():
        command.append("--no-build-isolation")
    result = _timed("wheel build", [*command, str(PROJECT_ROOT)], cwd=out, env=_env(), timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    wheels = list(out.glob("rtcstack-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding the wheel; its dependencies come from this project's .venv, without PyPI."""
    root = tmp_path_factory.mktemp("operator-venv")
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    # Installed before the dependencies are made visible, so pip never sees (nor tries to replace) the
    # checkout's editable rtcstack in .venv.
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                                "--no-index", "--disable-pip-version-check", "-q", str(wheel)],
                               check=False, capture_output=True, text=True, env=_env(), timeout=300)
    assert installed.returncode == 0, installed.stdout[-4000:] + installed.stderr[-4000:]
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site_packages = Path(subprocess.check_output([str(python), "-c", purelib], text=True).strip())
    # A path line in a .pth is only appended to sys.path: the dependencies become importable after the venv's
    # own site-packages, and .venv's editable-install hook (itself a .pth there) never runs.
    dependencies = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (site_packages / "zz-rtcstack-dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(dependencies)))
    TIMINGS["venv and install"] = time.monotonic() - start
    return root


@pytest.fixture(scope="module")
def operator_repo(lab_runner, tmp_path_factory) -> Path:
    """An operator's repository outside the checkout: an SSH inventory of the single lab's host, the lab's
    group_data without its `lab` section, and the lab's secrets and PKI (so nothing on aio1 is rotated)."""
    from rtcstack.lab import Lab
    from rtcstack.roles import REGISTRY
    from rtcstack.site import Site

    lab_runner(INVENTORY)  # up and deployed through the docker connector
    repo = tmp_path_factory.mktemp("operator-repo")
    assert not repo.resolve().is_relative_to(PROJECT_ROOT)
    site = Site.load(PROJECT_ROOT / INVENTORY)
    data = {"private_address": str(site.host(HOST).private_address),
            **Lab(site.deployment, site.name, key_dir=PROJECT_ROOT / "inventories").ssh_data(HOST)}
    inventories = repo / "inventories"
    inventories.mkdir()
    roles = [role for role in REGISTRY if role in site.host(HOST).roles]  # as inventories/single.py has them
    (inventories / "single.py").write_text(
        '"""Every role on one host, reached over SSH."""\n\n'
        f"_AIO = ({HOST!r}, {data!r})\n\n" + "".join(f"{role} = [_AIO]\n" for role in roles))
    shutil.copy2(PROJECT_ROOT / "inventories/single.secrets", inventories / "single.secrets")
    shutil.copytree(PROJECT_ROOT / "inventories/single.pki", inventories / "single.pki")

    (repo / "group_data").mkdir()
    for name in ("all.py", "single.py"):
        text = (PROJECT_ROOT / "group_data" / name).read_text()
        assert not re.search(r"^system\s*=", text, re.MULTILINE), f"group_data/{name} sets system already"
        kept = "".join(line for line in text.splitlines(keepends=True) if not re.match(r"lab\s*=", line))
        assert not re.search(r"^\s*lab\s*=", kept, re.MULTILINE), f"group_data/{name}: a `lab` section remains"
        (repo / "group_data" / name).write_text(kept)
    with (repo / "group_data/all.py").open("a") as all_py:
        all_py.write(f"\n{OPERATOR_SETTINGS}\n")
    return repo


def _rtcstack(venv: Path, repo: Path, *args: str, step: str | None = None, timeout: float = 900):
    """The installed tool, run by the operator from their repository."""
    return _timed(step or " ".join(args), [str(venv / "bin" / "rtcstack"), *args], cwd=repo, env=_env(),
                  timeout=timeout)


def _summary(path: Path, result: subprocess.CompletedProcess) -> dict:
    data = json.loads(path.read_text()) if path.exists() else {}
    return {**data, "returncode": result.returncode, "output": result.stdout + result.stderr}


@pytest.fixture(scope="module")
def ssh_deploys(venv, operator_repo, lab_runner, request) -> dict:
    """`check`, then two SSH deploys from the operator's repository; afterwards the checkout deploys the lab
    again, which puts journald's setting back (also when a test or a deploy failed)."""
    tmp = operator_repo / "summaries"
    tmp.mkdir()

    def restore():
        start = time.monotonic()
        restored = deploy(INVENTORY, lab_runner.tmp)
        TIMINGS["restore deploy (checkout, docker)"] = time.monotonic() - start
        print("\ninstalled tool timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in TIMINGS.items()))
        assert restored["returncode"] == 0, restored["output"][-6000:]
        assert any("journald" in name for name in restored["changed"]), restored["changed"]

    request.addfinalizer(restore)
    out = {"check": _rtcstack(venv, operator_repo, "check", INVENTORY)}
    for run in ("first", "second"):
        path = tmp / f"{run}.json"
        result = _rtcstack(venv, operator_repo, "deploy", INVENTORY, "--summary-json", str(path),
                           step=f"{run} SSH deploy")
        out[run] = _summary(path, result)
    return out


def _assert_clean_failure(result: subprocess.CompletedProcess, *needles: str, lines: int = 1) -> None:
    """A non-zero exit with a short message naming what is wrong, and no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    message = result.stderr.strip().splitlines()
    assert 1 <= len(message) <= lines, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def test_wheel_carries_deploys_templates_and_migrations(wheel):
    """The wheel ships the deploy scripts, the templates, the migration template and the verify suite, and no
    secret, key or compiled file."""
    names = zipfile.ZipFile(wheel).namelist()
    for shipped in SHIPPED:
        assert shipped in names
    assert not [n for n in names if n.endswith((".secrets", ".pyc", "id_ed25519", ".key.enc")) or "__pycache__" in n]


def test_installed_tool_runs_from_its_own_venv(venv, tmp_path):
    """The installed rtcstack imports from the new venv, not the checkout, and finds deploys/ in its share/."""
    probe = ("import rtcstack, rtcstack.resources as r; "
             "print(rtcstack.__file__); print(r.folder('deploys')); print(r.CHECKOUT)")
    result = subprocess.run([str(venv / "bin" / "python"), "-c", probe], cwd=tmp_path, env=_env(),
                            check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    module, deploys, checkout = result.stdout.splitlines()
    assert Path(module).is_relative_to(venv) and not Path(module).is_relative_to(PROJECT_ROOT)
    assert Path(deploys) == Path(module).parent / "share" / "deploys"
    assert (Path(deploys) / "site.py").is_file()
    assert checkout == "None"
    version = subprocess.run([str(venv / "bin" / "rtcstack"), "--version"], cwd=tmp_path, env=_env(),
                             check=False, capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and "0.1.0" in version.stdout, version.stdout + version.stderr


def test_installed_tool_checks_the_operator_inventory(ssh_deploys):
    """`rtcstack check` accepts the operator's SSH inventory (no `lab` section) with its copied secrets."""
    check = ssh_deploys["check"]
    assert check.returncode == 0, check.stdout + check.stderr
    assert f"{INVENTORY}: valid, 1 hosts" in check.stdout


def test_installed_tool_deploys_the_single_lab_over_ssh_from_an_operator_repository(ssh_deploys, venv):
    """The first SSH deploy succeeds from the installed deploy scripts and changes only what the operator's
    settings change (journald): the same secrets and certificates as the lab's own deploy."""
    first = ssh_deploys["first"]
    assert first["returncode"] == 0, first["output"][-6000:]
    assert str(venv) in first["output"]  # the deploy scripts ran from the wheel's share/deploys
    assert str(PROJECT_ROOT / "deploys") not in first["output"]
    assert first["changed"], first["output"][-6000:]
    assert all("journald" in name for name in first["changed"]), first["changed"]
    assert all(hosts == [HOST] for hosts in first["changed"].values()), first["changed"]


def test_second_ssh_deploy_changes_nothing(ssh_deploys):
    """A second SSH deploy of the operator's inventory reports zero changed operations."""
    second = ssh_deploys["second"]
    assert second["returncode"] == 0, second["output"][-6000:]
    assert second["operations"] > 20
    assert second["changed_count"] == 0, second["changed"]


def test_installed_verify_suite_passes_over_ssh(ssh_deploys, venv, operator_repo):
    """`rtcstack verify INVENTORY -k base` from the operator's repository checks aio1 over SSH, with the
    operator's settings (journald at 256M), and passes."""
    assert ssh_deploys["second"]["returncode"] == 0
    result = _rtcstack(venv, operator_repo, "verify", INVENTORY, "-k", "base", "-rA", step="verify -k base")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    passed = [line for line in result.stdout.splitlines() if line.startswith("PASSED ")]
    journald = f"test_base.py::test_journald_limit_follows_settings[{HOST}@single]"
    assert any(line.endswith(journald) for line in passed), result.stdout[-4000:]


def test_deploy_of_a_missing_inventory_fails_with_a_message(venv, operator_repo):
    """`rtcstack deploy inventories/missing.py` exits non-zero naming the file, without a traceback."""
    result = _rtcstack(venv, operator_repo, "deploy", "inventories/missing.py")
    _assert_clean_failure(result, "missing.py", "file not found")


def test_deploy_limited_to_an_unknown_host_fails_naming_it(venv, operator_repo):
    """`--limit nosuchhost` exits non-zero naming nosuchhost and the inventory's hosts, without a traceback,
    before connecting to any host."""
    result = _rtcstack(venv, operator_repo, "deploy", INVENTORY, "--limit", "nosuchhost")
    _assert_clean_failure(result, "nosuchhost", HOST)
    assert "Connecting" not in result.stdout


def test_lab_command_refuses_an_inventory_without_a_lab_section(venv, operator_repo):
    """`rtcstack lab status` on the operator's production inventory exits non-zero with a one-line reason."""
    result = _rtcstack(venv, operator_repo, "lab", "status", INVENTORY)
    _assert_clean_failure(result, "not a lab inventory")
