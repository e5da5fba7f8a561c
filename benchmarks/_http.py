"""What the HTTP benchmarks share: their client processes (benchmarks/_http_client.py, standard library only: the
tools' gevent patches stay out of them), the p95, and a static file of a given size on the edge (nginx's
reference)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

CLIENT = Path(__file__).resolve().parent / "_http_client.py"


def clients(jobs: list[dict]) -> list[dict]:
    """Run each job in its own process, all at once; their results."""
    processes = [subprocess.Popen([sys.executable, str(CLIENT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True) for _ in jobs]
    for process, job in zip(processes, jobs):
        process.stdin.write(json.dumps(job))
        process.stdin.close()
    results = [json.loads(process.stdout.read() or "null") for process in processes]
    if any(process.wait() for process in processes) or None in results:
        sys.exit("a benchmark client failed; see its error above")
    return results


def p95(values: list[float]) -> float | None:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 20 else None


def static_file(lab, edge, size: int) -> str:
    """A file of `size` bytes that the edge's nginx serves from its well-known directory; its path."""
    from rtcstack.roles.edge import WELL_KNOWN
    from rtcstack.runtime.remote import connect

    path = f"/.well-known/rtcstack-benchmark-{size}.html"
    connect(lab.site, [edge.name])[edge.name].run(
        f"mkdir -p {WELL_KNOWN} && head -c {size} /dev/urandom | base64 -w0 | head -c {size} "
        f"> {WELL_KNOWN}{path.removeprefix('/.well-known')}")
    return path
