"""Time a cold `lab up` + deploy of a lab inventory, then no-op re-deploys beside a reference commit's.

Targets: cold under 5 minutes; no-op re-deploy under 10 s with zero changed operations, and no slower than
the reference's (--reference, by default the commit before roles became units), timed in the same run on
the same lab: the reference is checked out in a temporary git worktree, converged once, then timed.
Cold means: no lab containers and no lab images (the base image is rebuilt with debootstrap);
the apt cache on the machine is kept unless --drop-apt-cache is given.

Usage: python benchmarks/deploy_speed.py [INVENTORY] [--keep-images] [--drop-apt-cache] [--warm]
                                         [--reference REV] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._report import report  # noqa: E402
from benchmarks import PROJECT_ROOT  # noqa: E402

RTCSTACK = [sys.executable, "-m", "rtcstack.cli"]
#: The last commit before roles became units (issue 12): the reference for no-op re-deploys.
REFERENCE = "9d55740"


class ReferenceFailed(Exception):
    """The reference commit could not deploy this lab (a newer lab state it does not know)."""


def timed(*args: str, root: Path = PROJECT_ROOT, env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run([*RTCSTACK, *args], cwd=root, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        if root != PROJECT_ROOT:
            failed = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("FAILED:")]
            last = [line.strip() for line in (result.stderr + result.stdout).splitlines() if line.strip()]
            raise ReferenceFailed(f"{len(failed)} operations failed, the first: {failed[0]}" if failed else
                                  (last[-1][:300] if last else f"exit {result.returncode}"))
        sys.exit(f"rtcstack {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    print(f"{'' if root == PROJECT_ROOT else '[reference] '}rtcstack {' '.join(args)}: {elapsed:.1f}s", file=sys.stderr)
    return elapsed, result


#: Per role, over the timed no-op re-deploys of this commit: operations and the seconds spent queueing them.
ROLE_RUNS: list[dict[str, dict]] = []


def no_op_runs(inventory: str, runs: int, root: Path = PROJECT_ROOT, env: dict | None = None) -> tuple[float, int, int]:
    """Converge once, then time `runs` re-deploys: (median seconds, changed operations, operations)."""
    timed("deploy", inventory, root=root, env=env)
    times, changed, operations = [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        summary = Path(tmp) / "summary.json"
        for _ in range(runs):
            elapsed, _ = timed("deploy", inventory, "--summary-json", str(summary), root=root, env=env)
            result = json.loads(summary.read_text())
            times.append(elapsed)
            changed += result["changed_count"]
            operations = result["operations"]
            if root == PROJECT_ROOT:
                ROLE_RUNS.append(result.get("roles", {}))
    return statistics.median(times), changed, operations


def role_rows(deployment) -> list[list[str]]:
    """Per role: its hosts, operations (over its hosts) and the median seconds its deploy code took to queue them
    (facts included, summed over its hosts), with its share of all roles' seconds."""
    names = sorted({name for run in ROLE_RUNS for name in run},
                   key=lambda n: -statistics.median(run.get(n, {}).get("prepare_seconds", 0) for run in ROLE_RUNS))
    total_seconds = sum(statistics.median(run.get(n, {}).get("prepare_seconds", 0) for run in ROLE_RUNS)
                        for n in names) or 1.0
    rows = []
    for name in names:
        seconds = statistics.median(run.get(name, {}).get("prepare_seconds", 0) for run in ROLE_RUNS)
        operations = ROLE_RUNS[-1].get(name, {}).get("operations", 0)
        hosts = len(deployment.hosts) if name in ("base", "site") else len(deployment.hosts_with(name))
        rows.append([name, str(hosts), str(operations), f"{seconds:.2f}", f"{seconds / hosts:.3f}" if hosts else "-",
                     f"{100 * seconds / total_seconds:.0f} %"])
    prepared = sum(float(r[3]) for r in rows)
    rows.append(["all roles", str(len(deployment.hosts)), str(sum(int(r[2]) for r in rows)), f"{prepared:.2f}", "-",
                 f"{100 * prepared / total_seconds:.0f} %"])
    return rows


@contextmanager
def reference_checkout(revision: str, inventory: str):
    """The reference commit in a temporary worktree, sharing this checkout's secrets and PKI for the inventory."""
    with tempfile.TemporaryDirectory(prefix="rtcstack-reference-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), revision], cwd=PROJECT_ROOT, check=True,
                       capture_output=True)
        try:
            stem = PROJECT_ROOT / Path(inventory).with_suffix("")
            for suffix in (".secrets", ".pki"):
                source = stem.with_suffix(suffix)
                if source.exists():
                    (tree / Path(inventory).with_suffix(suffix)).symlink_to(source)
            yield tree, {**os.environ, "PYTHONPATH": str(tree)}
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=PROJECT_ROOT, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inventory", nargs="?", default="inventories/lab.py")
    parser.add_argument("--keep-images", action="store_true", help="Keep the lab images (a warm start).")
    parser.add_argument("--drop-apt-cache", action="store_true", help="Also empty the lab's apt cache.")
    parser.add_argument("--warm", action="store_true", help="Skip the cold bring-up: only the no-op comparison.")
    parser.add_argument("--reference", default=REFERENCE,
                        help=f"Commit to compare no-op re-deploys with ({REFERENCE}); none: no comparison.")
    parser.add_argument("--runs", type=int, default=3, help="Timed no-op re-deploys of each (the median counts).")
    args = parser.parse_args()


    from rtcstack.site import load

    deployment = load(PROJECT_ROOT / args.inventory)
    rows = []
    if not args.warm:
        rows = cold_rows(args, deployment)
    ours, changed, operations = no_op_runs(args.inventory, args.runs)
    theirs = None
    if args.reference != "none":
        try:
            with reference_checkout(args.reference, args.inventory) as (tree, env):
                theirs, their_changed, their_operations = no_op_runs(args.inventory, args.runs, tree, env)
            rows.append([f"no-op re-deploy, reference {args.reference}", f"{theirs:.1f}",
                         f"{their_changed} of {their_operations}", "-", "-"])
        except ReferenceFailed as exc:
            rows.append([f"no-op re-deploy, reference {args.reference}", "-", "-",
                         f"could not deploy this lab: {exc}", "-"])
        timed("deploy", args.inventory)  # leave the lab as this commit deploys it
    compared = f", <= reference ({theirs:.1f} s)" if theirs is not None else ""
    rows.append(["no-op re-deploy", f"{ours:.1f}", f"{changed} of {operations}", f"< 10 s, 0 changed{compared}",
                 "yes" if ours < 10 and changed == 0 and (theirs is None or ours <= theirs) else "NO"])
    if ROLE_RUNS:
        report(f"No-op re-deploy by role, {args.inventory} ({len(deployment.hosts)} hosts)",
               ["role", "hosts", "operations", "host-seconds queueing them", "per host", "share"],
               role_rows(deployment),
               f"Host-seconds: what each role's deploy code took to queue its operations on each of its hosts, "
               f"reading the facts it needs, summed over its hosts (median of the timed re-deploys). pyinfra "
               f"prepares the hosts side by side, so a host's seconds include waits for the others: the column adds "
               f"up to more than the re-deploy's {ours:.1f} s of wall time, and compares the roles with each other.")
    report(
        f"Deploy speed, {args.inventory} ({len(deployment.hosts)} hosts)",
        ["step", "seconds", "changed operations", "target", "met"], rows,
        ("apt cache " + ("emptied first" if args.drop_apt_cache else "kept (as a re-built lab would find it)") + ". "
         if not args.warm else "Warm: the lab was up and deployed. ")
        + f"No-op re-deploys: median of {args.runs} after one converging run, each commit on the same lab"
        + (f"; ratio {ours / theirs:.2f}." if theirs else "."),
    )


def cold_rows(args, deployment) -> list[list[str]]:
    """`lab up` and the first deploy from nothing (containers removed, images too unless --keep-images)."""
    import docker

    from rtcstack.lab import BASE_IMAGE, SYSTEMD_IMAGE

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
    cold = up + first
    return [["lab up (cold" + (", images kept" if args.keep_images else ", images rebuilt") + ")", f"{up:.1f}", "-", "-", "-"],
            ["first deploy", f"{first:.1f}", "-", "-", "-"],
            ["cold total", f"{cold:.1f}", "-", "< 300 s", "yes" if cold < 300 else "NO"]]


if __name__ == "__main__":
    main()
