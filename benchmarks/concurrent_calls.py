"""300 concurrent calls with G.711 RTP both ways through rtpengine, plus attempts beyond 300.
Targets: loss <= 0.1 %, jitter p95 <= 5 ms, MOS >= 4.2 (95 % of streams), every attempt beyond the limit refused.

`rtcstack load sip_calls` with --users 300 + EXTRA: the load customer has 300 channels and the platform
300 calls, so EXTRA users' attempts must be refused (403 channel limit or 503 platform limit) while 300
calls hold. Kamailio's dialogs are sampled during the hold: the answered ones (answering and ongoing: the calls that
hold a channel) against the limit, and all of them besides. An attempt is refused after its dialog has joined the
customer's profile (join first, then count: two attempts racing cannot both pass), so "all" also counts the attempts
being refused at that moment.

Usage: python benchmarks/concurrent_calls.py [INVENTORY] [--extra 20] [--hold 30] [--workers 0]
"""

from __future__ import annotations

import csv
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._load import ANSWERED_ONLY, command_line, fmt, rtcstack_load  # noqa: E402
from benchmarks._report import report  # noqa: E402


def is_limit_refusal(failure: str) -> bool:
    """A failure of Locust's failure table that is an INVITE refused by the channel or platform limit."""
    if "INVITE" not in failure:
        return False
    return ("403" in failure and "Channel limit" in failure) or ("503" in failure and "limit" in failure)


def main() -> None:
    args, lab = command_line(__doc__, extra=20, hold=30, workers=0)
    limit = min(lab.deployment.channels, 300)

    samples: list[dict[str, int]] = []
    stop = threading.Event()

    def sample():
        time.sleep(8)
        while not stop.wait(3):
            if (states := lab.dialog_states()).get("all") is not None:
                samples.append(states)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    run = rtcstack_load(lab, "sip_calls", limit + args.extra, args.hold + 15, f"call_hold_seconds={args.hold}", *ANSWERED_ONLY,
                        "call_pause_seconds=1", "sip_calls.max_failure_ratio=1", workers=args.workers)
    stop.set()
    sampler.join(timeout=10)
    setups, refused = run.count("SIP", "call setup")
    reasons = {}
    failures = sorted(lab.tmp.glob("sip_calls-*/locust_failures.csv"))
    if failures:
        with failures[-1].open() as handle:
            for row in csv.DictReader(handle):
                reasons[row["Error"]] = reasons.get(row["Error"], 0) + int(row["Occurrences"])
    call_media = run.summary.get("media", {}).get("call", {})
    refusals_met = refused > 0 and all(is_limit_refusal(reason) for reason in reasons)
    peak = max((s.get("answering", 0) + s.get("ongoing", 0) for s in samples), default=None)
    peak_all = max((s["all"] for s in samples), default=None)
    loss, jitter, mos = call_media.get("loss_percent"), call_media.get("jitter_p95_ms"), call_media.get("mos_p5")
    rows = [
        ["users (calls attempted at once)", str(limit + args.extra), "-", "-"],
        ["calls answered / attempts refused", f"{setups - refused} / {refused}", "-", "-"],
        ["answered calls during the hold (max sampled dialogs answering or ongoing)", str(peak), f"<= {limit}",
         "met" if peak is not None and peak <= limit else "MISSED"],
        ["dialogs in any state during the hold (max sampled; with the attempts being refused)", str(peak_all), "-",
         "-"],
        ["every attempt beyond the limit refused", "; ".join(f"{n} x {r[:60]}" for r, n in reasons.items()) or "none",
         "403/503 limit only", "met" if refusals_met else "MISSED"],
        ["RTP streams / packets", f"{call_media.get('streams', 0)} / {call_media.get('packets_expected', 0)}", "-", "-"],
        ["loss (%)", fmt(loss, 3), "<= 0.1", "met" if loss is not None and loss <= 0.1 else "MISSED"],
        ["jitter p95 (ms)", fmt(jitter, 2), "<= 5", "met" if jitter is not None and jitter <= 5 else "MISSED"],
        ["MOS, 95 % of streams at least", fmt(mos, 2), ">= 4.2", "met" if mos is not None and mos >= 4.2 else "MISSED"],
        ["call setup p95 (ms)", fmt(run.p95("SIP", "call setup"), 0), "-", "-"],
    ]
    report(f"{limit} concurrent calls with G.711 RTP plus {args.extra} beyond, hold {args.hold} s, "
           f"{args.workers or 1} Locust process(es), {args.inventory}", ["figure", "measured", "target", "met"], rows,
           "Caller and callee both run in the Locust process(es) on this machine: 2 RTP streams per call, "
           "50 packets/s each way.")


if __name__ == "__main__":
    main()
