"""Processes released at the same moment: what the locks that keep two rtcstack runs at once apart are tested
with. Plain subprocesses, not multiprocessing: its join returns early under gevent, which pyinfra_cli patches in."""

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests import PROJECT_ROOT


def run_at_once(target, *arguments: tuple) -> list[int]:
    """Run `target(*args)` (a module-level function, args in JSON) in a fresh Python process for each args, all
    of them released together once every one has started; return their exit codes."""
    entry = [sys.executable, "-c", "from tests.unit.processes import main; main()", target.__module__, target.__name__]
    with tempfile.TemporaryDirectory(prefix="ready-") as ready:
        processes = [subprocess.Popen([*entry, ready, str(len(arguments)), json.dumps(args)], cwd=PROJECT_ROOT)
                     for args in arguments]
        return [process.wait(60) for process in processes]


def main() -> None:
    """One of run_at_once's processes: say it is ready, wait until all are, then run the target."""
    module, name, ready, count, arguments = sys.argv[1:]
    target = getattr(importlib.import_module(module), name)
    Path(ready, str(os.getpid())).touch()
    while len(list(Path(ready).iterdir())) < int(count):
        time.sleep(0.01)
    target(*json.loads(arguments))
