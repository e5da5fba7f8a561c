"""What the loadgen role promises, checked on its hosts with testinfra."""

import pytest

from rtcstack.roles.loadgen import ACCOUNT, LOCUSTFILES, VENV, WORKER_UNIT

pytestmark = [pytest.mark.integration, pytest.mark.role("loadgen")]


def test_the_loadgen_venv_runs_every_scenario_of_the_wheel(target):
    """Locust and the scenarios import in the loadgen venv (offline install: nothing missing from its extra)."""
    scenarios = target.remote.check_output(f"ls {LOCUSTFILES}").split()
    assert "sip_register.py" in scenarios and "sip_calls.py" in scenarios
    modules = ["locust", "rtcstack.load.support", "rtcstack.protocols.turn", "rtcstack.protocols.janus",
               "rtcstack.protocols.sip.agent"]
    target.remote.check_output(f"{VENV}/bin/python -c 'import {', '.join(modules)}'")


def test_no_load_worker_runs_between_runs_and_the_unit_runs_as_the_load_account(target):
    unit = target.remote.check_output(f"systemctl cat {WORKER_UNIT}.service")
    assert f"User={ACCOUNT}" in unit and "NoNewPrivileges=yes" in unit
    running = target.remote.run(f"systemctl list-units --no-legend '{WORKER_UNIT}*'").stdout.strip()
    assert running == ""
