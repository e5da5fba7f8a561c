"""Print a benchmark's markdown table and append it, with the machine's details, to docs/benchmarks.md."""

from __future__ import annotations

import math
import os
import platform
import subprocess
import time
from datetime import UTC, datetime

from benchmarks import PROJECT_ROOT


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    memory = next((int(line.split()[1]) // 1024 // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), 0)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                            text=True).stdout.strip()
    return (f"{platform.node()}, {os.cpu_count()} cores ({cpu}), {memory} GiB, Python {platform.python_version()}, "
            f"commit {commit or '?'}")


#: The fixed work `speed_check()` times: one core's worth of Python arithmetic, about 0.35 s on the lab machine idle.
SPEED_CHECK_TERMS = 30_000_000


def speed_check() -> float:
    """Seconds one core takes for a fixed loop, the best of three: on a shared machine the same work takes longer
    when other tenants load it (0.35 s idle, 0.52 s on 2026-12-05 at 03:30 UTC), and every figure of a run with it."""
    best = math.inf
    for _ in range(3):
        started = time.perf_counter()
        sum(range(SPEED_CHECK_TERMS))
        best = min(best, time.perf_counter() - started)
    return best


def speeds() -> str:
    # (A pipe round trip between two processes was tried as a second check and dropped: in this VM it is fastest when
    # the machine is busy, 6 µs, and slowest idle, 39 µs, where waking an idle virtual CPU dominates.)
    return f"speed check {speed_check():.2f} s (a fixed loop on one core: lower is faster; compare runs by it)"


def ratio(value: float | None) -> str:
    """A ratio beside its target, to two decimals rounded down: one just under its target (0.74996 against 0.75)
    never prints as the target beside "MISSED"."""
    return "-" if value is None else f"{math.floor(value * 100 + 1e-9) / 100:.2f}"


#: The speed check of a script's reports, measured at its first report: a script writes its reports one after the
#: other at its end, and a second measurement would only repeat the first (each takes about a second).
_speed_at_report: str | None = None


def report(title: str, header: list[str], rows: list[list[str]], notes: str = "") -> None:
    global _speed_at_report
    if _speed_at_report is None:
        _speed_at_report = speeds()
    lines = [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}", *(f"| {' | '.join(r)} |" for r in rows)]
    table = "\n".join(lines)
    print(table)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    path = PROJECT_ROOT / "docs" / "benchmarks.md"
    if not path.exists():
        path.write_text("# Benchmarks\n\nAppended by the scripts in benchmarks/; newest last.\n")
    with path.open("a") as handle:
        handle.write(f"\n## {title} ({stamp})\n\nMachine: {machine()}; {_speed_at_report}\n\n{table}\n"
                     + (f"\n{notes}\n" if notes else ""))
