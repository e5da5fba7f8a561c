"""A lock file held for the length of a block, against the other processes on the operator's machine: two
`rtcstack lab up` or `deploy` runs at once (the test session brings two labs up side by side) take turns at
what they share (the wheelhouse cache, the secrets key, the lab images) instead of writing over each other."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold `path` (made, with its directory, if missing) locked until the block ends, waiting while another
    process holds it. The lock goes with its process: one that dies never leaves it taken."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
