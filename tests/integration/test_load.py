"""`rtcstack load` against the labs: a short release run exercises every scenario (so a broken scenario
fails CI), the gate turns an impossible service level into a non-zero exit, and distributed mode works.
Benchmarks are not run here (benchmarks/)."""

import csv
import json

import pytest

from tests.conftest import LAB_INVENTORIES, rtcstack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=LAB_INVENTORIES)
def lab(request, lab_runner):
    lab_runner(request.param)
    return request.param


def _steps(report) -> dict[tuple[str, str], tuple[int, int]]:
    with (report / "locust_stats.csv").open() as handle:
        return {(r["Type"], r["Name"]): (int(r["Request Count"]), int(r["Failure Count"])) for r in csv.DictReader(handle)}


def test_release_run_exercises_every_scenario_within_its_service_levels(lab, tmp_path):
    report = tmp_path / "release"
    result = rtcstack("load", "release", lab, "--users", "10", "--duration", "30s", "--set", "call_hold_seconds=4",
                      "--set", "sfu_hold_seconds=2", "--set", "turn_burst_messages=50", "--report", str(report),
                      check=False, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((report / "summary.json").read_text())
    assert summary["passed"] and {c["scenario"] for c in summary["checks"]} == {
        "sip_register", "sip_calls", "turn_relay", "sfu_join", "http"}
    steps = _steps(report)
    for step in [("SIP", "REGISTER"), ("SIP", "call setup"), ("SIP", "BYE"), ("RTP", "call media"),
                 ("TURN", "Allocate"), ("TURN", "ChannelBind"), ("TURN", "relay burst"), ("JANUS", "join"),
                 ("JANUS", "leave"), ("HTTP", "GET /healthz"), ("HTTP", "POST /login"), ("HTTP", "GET /dashboard")]:
        assert steps.get(step, (0, 0))[0] > 0, (step, steps)
    assert summary["media"]["call"]["streams"] >= 2 and summary["media"]["call"]["loss_percent"] <= 0.5
    assert summary["media"]["turn"]["streams"] >= 1
    for name in ("report.html", "locust_stats_history.csv", "rate.png", "latency.png", "loss.png", "mos.png"):
        assert (report / name).stat().st_size > 0, name
    assert (report / "rate.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_impossible_service_level_fails_the_run(lab, tmp_path):
    result = rtcstack("load", "sip_register", lab, "--users", "3", "--duration", "6s", "--report", str(tmp_path),
                      "--set", "sip_register.max_p95_setup_ms=0.001", check=False, timeout=120)
    assert result.returncode == 1, result.stdout[-2000:]
    assert "NO" in result.stdout and "service levels missed" in result.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert not summary["passed"] and _steps(tmp_path)[("SIP", "REGISTER")][0] > 0


def test_distributed_mode_runs_the_scenario_on_workers(lab, tmp_path):
    if lab != "inventories/lab.py":
        pytest.skip("once is enough")
    result = rtcstack("load", "sip_register", lab, "--users", "4", "--duration", "10s", "--workers", "2",
                      "--report", str(tmp_path), check=False, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert _steps(tmp_path)[("SIP", "REGISTER")][0] > 0
    assert (tmp_path / "worker-0.log").exists() and (tmp_path / "worker-1.log").exists()
    assert "2 local worker(s)" in result.stdout


def test_bad_input_fails_before_any_load(lab, tmp_path):
    result = rtcstack("load", "sip_register", lab, "--set", "sip_register.nonsense=1", check=False)
    assert result.returncode == 1 and "no such load setting" in result.stderr
    result = rtcstack("load", "sip_register", lab, "--duration", "soon", check=False)
    assert result.returncode == 2 and "30s, 5m" in result.stderr
