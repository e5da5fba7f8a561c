"""`rtcstack load`: Locust scenarios against a deployed platform, gated on the service levels in load.*."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import click

from ..load.scenarios import SCENARIOS
from .base import clean_errors, fail, inventory_argument, main, site_or_exit


def _duration(ctx, param, value: str) -> float:
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?", value.strip())
    if not value.strip() or not match or not any(match.groups()):
        raise click.BadParameter(f"{value!r}: write it as 30s, 5m, 1h30m or seconds")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return float(hours * 3600 + minutes * 60 + seconds)


@main.command("load")
@click.argument("scenario", type=click.Choice(sorted(SCENARIOS)))
@inventory_argument
@click.option("--users", type=click.IntRange(1, 100000), default=10, show_default=True,
              help="Concurrent Locust users (sip_calls: concurrent calls).")
@click.option("--spawn-rate", type=click.FloatRange(0.1), default=None,
              help="Users started per second (default: a tenth of --users, at least 1).")
@click.option("--duration", callback=_duration, default="60s", show_default=True,
              help="How long to run: 30s, 5m, 1h30m.")
@click.option("--workers", type=click.IntRange(0, 256), default=0, show_default=True,
              help="Locust worker processes under a master (0: one process here): on the inventory's loadgen "
                   "hosts, spread evenly, when it has any, else on this machine.")
@click.option("--local", "local_workers", is_flag=True,
              help="Run the --workers on this machine even when the inventory has loadgen hosts.")
@click.option("--remote-workers", type=click.IntRange(0, 1024), default=0, show_default=True,
              help="Also wait for this many workers started on other machines with --worker.")
@click.option("--master-port", type=click.IntRange(1, 65535), default=5557, show_default=True,
              help="The master's port for remote workers.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for Locust's CSV and HTML, the media log, PNG plots and summary.json "
                   "(default: out/load/SCENARIO-TIMESTAMP).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a load.* setting for this run, e.g. sip_register.max_p95_setup_ms=200 (repeatable).")
@click.option("--web", is_flag=True, help="Interactive: Locust's web UI on http://127.0.0.1:8089, no gate.")
@click.option("--worker", "as_worker", is_flag=True, help="Run as a worker of a master on another machine.")
@click.option("--master-host", default=None, help="With --worker: the master's address.")
def load_command(scenario: str, inventory: Path, users: int, spawn_rate: float | None, duration: float, workers: int,
                 remote_workers: int, master_port: int, report_dir: Path | None, overrides: tuple[str, ...],
                 web: bool, as_worker: bool, master_host: str | None, local_workers: bool) -> None:
    """Run load SCENARIO against INVENTORY's hosts with Locust; exit 1 when a service level is missed.

    Targets, secrets and the test accounts (created as needed, customer rtcstack-load) come from the
    inventory. Scenarios: sip_register, sip_calls, turn_relay, sfu_join, http, and release (all at once).
    """
    from ..load.runner import LoadError, LoadRun, apply_overrides

    site = site_or_exit(inventory)
    deployment = site.deployment
    with clean_errors():
        try:
            deployment = deployment.model_copy(update={"load": apply_overrides(deployment.load, overrides)})
            if as_worker:
                sys.exit(_worker(scenario, site, deployment, users, duration, remote_workers, master_host,
                                 master_port))
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            on_loadgen = workers if deployment.hosts_with("loadgen") and not local_workers else 0
            run = LoadRun(scenario, site, deployment, users=users, spawn_rate=spawn_rate,
                          duration_seconds=duration, workers=workers - on_loadgen, remote_workers=remote_workers,
                          loadgen_workers=on_loadgen,
                          report_dir=report_dir or Path("out/load") / f"{scenario}-{stamp}", web=web,
                          master_port=master_port if remote_workers or on_loadgen else 0, log=click.echo)
            code = run.run()
        except LoadError as exc:
            fail(str(exc))
    if code:
        click.secho("service levels missed: see the rows marked NO", fg="red", err=True)
    sys.exit(code)


def _worker(scenario, site, deployment, users, duration, workers, master_host, master_port) -> int:
    """A worker on this machine for a master elsewhere: the same context, rebuilt from the same inventory."""
    from ..load.context import ENV, LoadContext

    if not master_host:
        fail("--worker needs --master-host (the machine running `rtcstack load ... --remote-workers N`)")
    with tempfile.TemporaryDirectory(prefix="rtcstack-load-") as private:
        context = LoadContext.build(deployment, site, scenario, users, max(1, workers), duration,
                                    Path(private) / "report")
        env = {**os.environ, ENV: str(context.write(Path(private) / "context.json"))}
        return subprocess.run([sys.executable, "-m", "locust", "-f", str(SCENARIOS[scenario].locustfile), "--worker",
                               "--master-host", master_host, "--master-port", str(master_port)], env=env).returncode
