"""REGISTER/s with digest auth against the deployed registrar: rtcstack's Locust user vs sipp, each at
the highest rate it reached with no failure (target: rtcstack >= sipp), and per CPU-second of the generator
(target: rtcstack >= sipp, issue 21).

Both send REGISTER, get 401, answer with the digest and get 200 (two transactions per registration), from
this machine, over UDP, with the same test accounts. rtcstack: `sip_register` with register_interval_seconds=0 at
rising user counts, one phone per user and register_phones_per_user phones multiplexed on each user's socket (one
process; one user of 200 and of 400 phones, 400 being as many registrations at once as sipp's -l 400 allows; the last
row one user of 100 phones per process, --workers 2): the more phones share a socket and its greenlet, the fewer
wake-ups each registration costs; sipp: rising -r.

CPU-seconds: sipp's own (user + system, start-up included, from the kernel's accounting of the child); rtcstack's
are what its Locust processes used between the test's start and stop (summary.json's generator_cpu_seconds: the
imports and the account set-up before the load are left out, as they are per run, not per registration).

Usage: python benchmarks/register_rate.py [INVENTORY] [--seconds 20]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._load import command_line, fmt, rtcstack_load, sipp_ladder  # noqa: E402
from rtcstack.protocols.sip.sipp import authentication as sipp_auth  # noqa: E402
from benchmarks._report import ratio as shown, report  # noqa: E402


def main() -> None:
    args, lab = command_line(__doc__, seconds=20)

    rows, best, per_cpu = [], {"rtcstack": 0.0, "sipp": 0.0}, {"rtcstack": 0.0, "sipp": 0.0}
    for users, phones, workers in ((10, 1, 0), (50, 1, 0), (10, 10, 0), (25, 10, 0), (1, 100, 0), (1, 200, 0),
                                   (1, 400, 0), (2, 100, 2)):
        run = rtcstack_load(lab, "sip_register", users, args.seconds, "register_interval_seconds=0",
                            f"register_phones_per_user={phones}", workers=workers)
        done, failed = run.count("SIP", "REGISTER")
        rate, cpu = done / args.seconds, run.summary.get("generator_cpu_seconds")
        rows.append(["rtcstack (Locust)", f"{users} users x {phones} phones, {workers or 1} process(es)", str(done),
                     str(failed), fmt(rate), fmt(cpu, 2), fmt(done / cpu if cpu else None, 0),
                     fmt(run.p95("SIP", "REGISTER"), 0)])
        if not failed and done:
            best["rtcstack"] = max(best["rtcstack"], rate)
            if cpu:
                per_cpu["rtcstack"] = max(per_cpu["rtcstack"], done / cpu)

    accounts = lab.accounts("sip_register", 100)
    best["sipp"], runs = sipp_ladder(lab, "register", [f"{u};{sipp_auth(u, p)};{lab.domain}" for u, p in accounts],
                                     [200, 400, 800, 1600, 3200, 6400, 12800], args.seconds, "-l", "400",
                                     "-timeout_error")
    for rate, r in runs:
        rows.append(["sipp", f"-r {rate}", str(r.successful), str(r.failed), fmt(r.rate), fmt(r.cpu_seconds, 2),
                     fmt(r.successful / r.cpu_seconds if r.cpu_seconds else None, 0), "-"])
        if not r.failed and r.successful and r.cpu_seconds:
            per_cpu["sipp"] = max(per_cpu["sipp"], r.successful / r.cpu_seconds)
    met = best["rtcstack"] >= best["sipp"]
    ratio = per_cpu["rtcstack"] / per_cpu["sipp"] if per_cpu["sipp"] else 0.0
    rows.append(["**best without failures**", "", "", "", f"rtcstack {best['rtcstack']:.1f} / sipp {best['sipp']:.1f}",
                 "", "", f"target rtcstack >= sipp: {'met' if met else 'MISSED'}"])
    rows.append(["**per CPU-second of the generator**", "", "", "", "",
                 f"rtcstack {per_cpu['rtcstack']:.0f} / sipp {per_cpu['sipp']:.0f}", f"ratio {shown(ratio)}",
                 f"target >= 1.0: {'met' if ratio >= 1.0 else 'MISSED'}"])
    report(f"REGISTER/s with digest auth, {args.inventory}",
           ["client", "load", "registrations", "failed", "per second", "generator CPU-s", "per CPU-second",
            "p95 (ms)"], rows,
           "Each registration is REGISTER, 401, REGISTER with digest, 200. sipp's rate includes its start-up "
           "(a fraction of a second per run); rtcstack's counts the registrations completed in the run time. sipp's "
           "ladder doubles the rate (at most 400 registrations at once) until a step fails or falls below 90 % of its "
           "rate, then bisects twice (benchmarks/_ladder.py); a rate asked but not reached without failures is "
           "sipp's ceiling here. Per CPU-second: registrations "
           "divided by the generator's CPU-seconds (sipp: the whole process; rtcstack: its Locust processes while "
           "the load ran), the best clean run of each.")


if __name__ == "__main__":
    main()
