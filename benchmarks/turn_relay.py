"""TURN relay at equal clients, message size and interval: rtcstack's turn_relay Locust user vs coturn's
turnutils_uclient, against the same TURN host, each relaying to an echo peer on this machine.
Targets: rtcstack's loss within 0.1 percentage point of turnutils_uclient's; Allocate p95 <= 10 ms.

Usage: python benchmarks/turn_relay.py [INVENTORY] [--clients 50] [--messages 250] [--size 172] [--interval 20]
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._load import Lab, command_line, fmt, rtcstack_load  # noqa: E402
from benchmarks._report import report  # noqa: E402
from rtcstack.protocols.turn_rest import rest_credentials  # noqa: E402


def uclient(lab: Lab, turn, clients: int, messages: int, size: int, interval: int) -> dict:
    """turnutils_uclient in parallel processes of at most turn.user_quota / 2 clients each (coturn counts
    allocations per username, and turnutils_uclient makes two per client), totals summed."""
    port = 3480 + int(time.time()) % 1000
    peer = subprocess.Popen(["turnutils_peer", "-L", lab.me, "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    quota = max(1, lab.deployment.turn.user_quota // 2)  # turnutils_uclient allocates twice per client
    sizes = [min(quota, clients - start) for start in range(0, clients, quota)]
    try:
        time.sleep(0.5)
        processes = []
        for n, count in enumerate(sizes):
            creds = rest_credentials(lab.deployment.secret("turn_shared_secret"), f"bench{n}-{secrets.token_hex(3)}",
                                     3600)
            command = ["turnutils_uclient", "-c", "-n", str(messages), "-m", str(count), "-l", str(size),
                       "-z", str(interval), "-u", creds.username, "-w", creds.password, "-e", lab.me, "-r", str(port),
                       str(turn.private_address), "-p", str(lab.deployment.turn.listening_port)]
            processes.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        print(f"  turnutils_uclient x {len(sizes)} processes ({'+'.join(map(str, sizes))} clients)", file=sys.stderr)
        started = time.perf_counter()
        texts = [process.communicate(timeout=600)[0] for process in processes]
    finally:
        peer.terminate()
    totals = {"seconds": time.perf_counter() - started, "sent": 0, "received": 0, "rtt": [], "jitter": []}
    for text in texts:
        found = re.findall(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", text)  # the last line is the total
        sent = found[-1] if found else None
        if not sent:
            sys.exit(f"turnutils_uclient (process {texts.index(text)}) gave no totals:\n{text[-2000:]}")
        totals["sent"] += int(sent[0])
        totals["received"] += int(sent[1])
        for key, pattern in (("rtt", r"Average round trip delay ([\d.]+) ms"), ("jitter", r"Average jitter ([\d.]+) ms")):
            if match := re.search(pattern, text):
                totals[key].append(float(match.group(1)))
    totals["loss"] = 100 * (totals["sent"] - totals["received"]) / totals["sent"] if totals["sent"] else None
    for key in ("rtt", "jitter"):
        totals[key] = sum(totals[key]) / len(totals[key]) if totals[key] else None
    return totals


def main() -> None:
    args, lab = command_line(__doc__, clients=50, messages=250, size=172,
                             interval=(20, "milliseconds between one client's messages"))
    turn = lab.deployment.hosts_with("turn")[0]

    reference = uclient(lab, turn, args.clients, args.messages, args.size, args.interval)
    burst_seconds = args.messages * args.interval / 1000
    run = rtcstack_load(lab, "turn_relay", args.clients, int(burst_seconds + 3), f"turn_burst_messages={args.messages}",
                        f"turn_message_size={args.size}", f"turn_interval_ms={args.interval}")
    media = run.summary.get("media", {}).get("turn", {})
    ours_loss = media.get("loss_percent")
    allocate_p95 = run.p95("TURN", "Allocate")
    rows = [
        ["turnutils_uclient", str(args.clients), str(reference["sent"]), str(reference["received"]),
         fmt(reference["loss"], 3), fmt(reference["rtt"], 2), fmt(reference["jitter"], 2), "-"],
        ["rtcstack (Locust)", str(args.clients), str(media.get("packets_expected", 0)),
         str(media.get("packets_expected", 0) - media.get("packets_lost", 0)), fmt(ours_loss, 3),
         fmt((media.get("delay_p50_ms") or 0) * 2, 2), fmt(media.get("jitter_p50_ms"), 2), fmt(allocate_p95, 0)],
    ]
    loss_ok = ours_loss is not None and abs(ours_loss - reference["loss"]) <= 0.1
    allocate_ok = allocate_p95 is not None and allocate_p95 <= 10
    rows.append(["**targets**", "", "", "", f"within 0.1 pp: {'met' if loss_ok else 'MISSED'}", "", "",
                 f"<= 10 ms: {'met' if allocate_ok else 'MISSED'}"])
    report(f"TURN relay, {args.clients} clients x {args.messages} messages of {args.size} bytes every "
           f"{args.interval} ms, {args.inventory}",
           ["client", "clients", "messages sent", "echoes back", "loss (%)", "round trip (ms)", "jitter (ms)",
            "Allocate p95 (ms)"], rows,
           "Round trip: turnutils_uclient's average; rtcstack's median. Jitter: turnutils_uclient's average; "
           "rtcstack's median of the per-burst RFC 3550 estimate over round trips. Both relay through the same "
           "TURN host to an echo on this machine (turnutils_peer for turnutils_uclient, rtcstack's own for Locust).")


if __name__ == "__main__":
    main()
