"""Run the load benchmarks one after another against one deployed lab: `python -m benchmarks [INVENTORY]
[--only NAME ...]`. Each appends its own table to docs/benchmarks.md; the exit status is the first failure's."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOAD_BENCHMARKS = ("register_rate", "call_rate", "concurrent_calls", "turn_relay", "kamailio_reference", "invite_page",
                   "portal_pages", "conference_rooms", "voicemail_sessions")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("inventory", nargs="?", default="inventories/lab.py")
    parser.add_argument("--only", action="append", choices=LOAD_BENCHMARKS, metavar="NAME",
                        help=f"run only this benchmark (repeatable): {', '.join(LOAD_BENCHMARKS)}")
    args = parser.parse_args()
    status = 0
    for name in args.only or LOAD_BENCHMARKS:
        print(f"== benchmarks/{name}.py {args.inventory}", file=sys.stderr, flush=True)
        code = subprocess.run([sys.executable, str(HERE / f"{name}.py"), args.inventory], cwd=HERE.parent).returncode
        if code:
            print(f"== benchmarks/{name}.py exited {code}", file=sys.stderr)
            status = status or code
    return status


if __name__ == "__main__":
    sys.exit(main())
