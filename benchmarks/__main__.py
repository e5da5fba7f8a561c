"""Run the benchmarks one after another against one deployed lab: `python -m benchmarks [INVENTORY]
[--only NAME ...]`. Each appends its own table to docs/benchmarks.md; the exit status is the first failure's.

The load benchmarks run first, then the no-op re-deploy of the same lab (deploy_speed, warm: the lab stays up and
deployed, no reference commit), so that one run prints every target of issue 21: the generators per CPU-second,
the deployed registrar against the bare one, the overload steps, the plan of every statement the registrar runs, and the no-op deploy."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Each run by its name: the benchmark's script (in benchmarks/) and the options it runs with here (after the
#: inventory). The Kamailio benchmark runs twice: with the hosts and the generator on cores apart, then on shared cores
#: as every run before 2026-12-07 (the placement moves its ratios: benchmarks/kamailio_reference.py).
BENCHMARKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "register_rate": ("register_rate", ()),
    "call_rate": ("call_rate", ()),
    "concurrent_calls": ("concurrent_calls", ()),
    "turn_relay": ("turn_relay", ()),
    "kamailio_reference": ("kamailio_reference", ()),
    "kamailio_reference_shared_cores": ("kamailio_reference", ("--shared-cores",)),
    "registrar_plans": ("registrar_plans", ()),
    "invite_page": ("invite_page", ()),
    "portal_pages": ("portal_pages", ()),
    "conference_rooms": ("conference_rooms", ()),
    "voicemail_sessions": ("voicemail_sessions", ()),
    # Last: it re-deploys the lab it was given (a converging run, then the timed no-op runs).
    "deploy_speed": ("deploy_speed", ("--warm", "--reference", "none")),
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inventory", nargs="?", default="inventories/lab.py")
    parser.add_argument("--only", action="append", choices=tuple(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}")
    args = parser.parse_args()
    status = 0
    for name in args.only or BENCHMARKS:
        script, options = BENCHMARKS[name]
        command = [sys.executable, str(HERE / f"{script}.py"), args.inventory, *options]
        print(f"== benchmarks/{script}.py {' '.join(command[2:])}", file=sys.stderr, flush=True)
        code = subprocess.run(command, cwd=HERE.parent).returncode
        if code:
            print(f"== benchmarks/{script}.py exited {code}", file=sys.stderr)
            status = status or code
    return status


if __name__ == "__main__":
    sys.exit(main())
