"""Where a deploy's preparation goes: the seconds each role's deploy code takes to queue its operations on each
host (reading the facts it needs included), summed over the role's hosts. pyinfra prepares the hosts side by
side (gevent), so a host's seconds include waits for the others: the sums overlap and add up to more than the
run's wall time. They compare the roles with each other. `rtcstack deploy --summary-json` reports them with each
role's operation count, and benchmarks/deploy_speed.py prints them."""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager

seconds: dict[str, float] = defaultdict(float)


def reset() -> None:
    seconds.clear()


@contextmanager
def preparing(role: str):
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[role] += time.perf_counter() - started
