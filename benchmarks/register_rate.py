"""REGISTER/s with digest auth against the deployed registrar: rtcstack's Locust user vs sipp, each at
the highest rate it reached with no failure. Target: rtcstack >= sipp.

Both send REGISTER, get 401, answer with the digest and get 200 (two transactions per registration), from
this machine, over UDP, with the same test accounts. rtcstack: `sip_register` with
register_interval_seconds=0 at rising user counts (one process, then --workers 2); sipp: rising -r.

Usage: python benchmarks/register_rate.py [INVENTORY] [--seconds 20]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._load import command_line, fmt, rtcstack_load, sipp_auth, sipp_ladder  # noqa: E402
from benchmarks._report import report  # noqa: E402


def main() -> None:
    args, lab = command_line(__doc__, seconds=20)

    rows, best = [], {"rtcstack": 0.0, "sipp": 0.0}
    for users, workers in ((10, 0), (25, 0), (50, 0), (50, 2), (100, 2)):
        run = rtcstack_load(lab, "sip_register", users, args.seconds, "register_interval_seconds=0", workers=workers)
        done, failed = run.count("SIP", "REGISTER")
        rate = done / args.seconds
        rows.append(["rtcstack (Locust)", f"{users} users, {workers or 1} process(es)", str(done), str(failed),
                     fmt(rate), fmt(run.p95("SIP", "REGISTER"), 0)])
        if not failed and done:
            best["rtcstack"] = max(best["rtcstack"], rate)

    accounts = lab.accounts("sip_register", 100)
    best["sipp"], runs = sipp_ladder(lab, "register", [f"{u};{sipp_auth(u, p)};{lab.domain}" for u, p in accounts],
                                     [200, 400, 800, 1600, 3200, 6400, 12800], args.seconds, "-l", "400",
                                     "-timeout_error")
    rows += [["sipp", f"-r {rate}", str(r.successful), str(r.failed), fmt(r.rate), "-"] for rate, r in runs]
    met = best["rtcstack"] >= best["sipp"]
    rows.append(["**best without failures**", "", "", "", f"rtcstack {best['rtcstack']:.1f} / sipp {best['sipp']:.1f}",
                 f"target rtcstack >= sipp: {'met' if met else 'MISSED'}"])
    report(f"REGISTER/s with digest auth, {args.inventory}",
           ["client", "load", "registrations", "failed", "per second", "p95 (ms)"], rows,
           "Each registration is REGISTER, 401, REGISTER with digest, 200. sipp's rate includes its start-up "
           "(a fraction of a second per run); rtcstack's counts the registrations completed in the run time. sipp's "
           "ladder doubles the rate (at most 400 registrations at once) until the first failure, then tries halfway; "
           "a rate asked but not reached without failures is sipp's ceiling here.")


if __name__ == "__main__":
    main()
