"""Time a cold `lab up` + deploy of a lab inventory, then a no-op re-deploy.

Targets: cold under 5 minutes; no-op re-deploy under 10 s with zero changed operations.
Cold means: no lab containers and no lab images (the base image is rebuilt with debootstrap);
the apt cache on the machine is kept unless --drop-apt-cache is given.

Usage: python benchmarks/deploy_speed.py [INVENTORY] [--keep-images] [--drop-apt-cache]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._report import report  # noqa: E402
from benchmarks import PROJECT_ROOT  # noqa: E402

RTCSTACK = [sys.executable, "-m", "rtcstack.cli"]


def timed(*args: str) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run([*RTCSTACK, *args], cwd=PROJECT_ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"rtcstack {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    print(f"rtcstack {' '.join(args)}: {elapsed:.1f}s", file=sys.stderr)
    return elapsed, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inventory", nargs="?", default="inventories/lab.py")
    parser.add_argument("--keep-images", action="store_true", help="Keep the lab images (a warm start).")
    parser.add_argument("--drop-apt-cache", action="store_true", help="Also empty the lab's apt cache.")
    args = parser.parse_args()

    import docker

    from rtcstack.site import load
    from rtcstack.lab import BASE_IMAGE, SYSTEMD_IMAGE

    deployment = load(PROJECT_ROOT / args.inventory)
    subprocess.run([*RTCSTACK, "lab", "down", args.inventory], cwd=PROJECT_ROOT, check=True, capture_output=True)
    if not args.keep_images:
        client = docker.from_env()
        for image in (SYSTEMD_IMAGE, BASE_IMAGE):
            try:
                client.images.remove(image, force=True)
            except docker.errors.ImageNotFound:
                pass
    if args.drop_apt_cache:
        shutil.rmtree(deployment.lab.apt_cache_dir / deployment.lab.network, ignore_errors=True)

    up, _ = timed("lab", "up", args.inventory)
    first, _ = timed("deploy", args.inventory)
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.json"
        again, _ = timed("deploy", args.inventory, "--summary-json", str(summary))
        result = json.loads(summary.read_text())
    cold = up + first
    report(
        f"Deploy speed, {args.inventory} ({len(deployment.hosts)} hosts)",
        ["step", "seconds", "changed operations", "target", "met"],
        [["lab up (cold" + (", images kept" if args.keep_images else ", images rebuilt") + ")", f"{up:.1f}", "-", "-", "-"],
         ["first deploy", f"{first:.1f}", "-", "-", "-"],
         ["cold total", f"{cold:.1f}", "-", "< 300 s", "yes" if cold < 300 else "NO"],
         ["no-op re-deploy", f"{again:.1f}", str(result["changed_count"]), "< 10 s, 0 changed",
          "yes" if again < 10 and result["changed_count"] == 0 else "NO"]],
        "apt cache " + ("emptied first" if args.drop_apt_cache else "kept (as a re-built lab would find it)") + ".",
    )


if __name__ == "__main__":
    main()
