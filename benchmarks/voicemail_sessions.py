"""Voicemail sessions held at once on the voicemail host, with recording loss and CPU (R14).

For each step (a fifth, half and all of --max, by default voicemail.max_sessions): that many callers call at once
a mailbox whose account is not registered (voicemail answers at once), hear the greeting, speak G.711 through
rtpengine for --hold seconds and hang up. Printed per step: the sessions the voicemail host held at once (its
/healthz, sampled each second), the messages stored, seconds recorded against seconds spoken, recording loss
(RTP sequence gaps, as the service logs each message's), and the voicemail service's CPU (its unit's
process's user and system time) in per cent of one core and per session-second.

Usage: python benchmarks/voicemail_sessions.py [INVENTORY] [--hold 20] [--max 0]
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._load import RTCSTACK, command_line, database_sql  # noqa: E402
from benchmarks._report import report  # noqa: E402
from rtcstack.protocols.sip.agent import UserAgent  # noqa: E402


def cli(*args: str) -> str:
    return subprocess.run([*RTCSTACK, *args], check=True, capture_output=True, text=True).stdout


def main() -> None:
    args, lab = command_line(__doc__, hold=20, max=0)
    d = lab.deployment
    hosts = d.hosts_with("voicemail")
    if not hosts:
        sys.exit(f"{lab.inventory} has no voicemail host")
    vm = hosts[0]
    most = args.max or d.voicemail.max_sessions
    steps = sorted({max(1, most // 5), max(1, most // 2), most})
    customer = f"vm-bench-{secrets.token_hex(3)}"
    cli("customers", "add", lab.inventory, customer, "--top-up", str(d.billing.channel_price * (most + 10) + 100),
        "--channels", str(most + 10 if most + 10 <= 100 else -(-(most + 10) // 10) * 10))
    cli("customers", "set", lab.inventory, customer, "--voicemail", "on")
    users = [(f"{customer}-{i}", secrets.token_urlsafe(14)) for i in range(most + 1)]
    csv = lab.tmp / "accounts.csv"
    csv.write_text("customer,username,password\n" + "".join(f"{customer},{u},{p}\n" for u, p in users))
    cli("accounts", "import", lab.inventory, str(csv))
    mailbox, callers = users[0][0], users[1:]
    cli("accounts", "set", lab.inventory, mailbox, "--voicemail", "on")
    health = f"curl -s http://{vm.private_address}:{d.voicemail.http_port}/healthz"
    # the service's CPU time in ms: its process's user + system ticks (systemd's CPU accounting is off in the lab)
    cpu = ("pid=$(systemctl show -p MainPID --value rtcstack-voicemail); "
           "awk -v hz=$(getconf CLK_TCK) '{printf \"%d\\n\", ($14 + $15) * 1000 / hz}' /proc/$pid/stat")

    rows = []
    for count in steps:
        started_at = time.time()
        held: list[int] = []
        stop = threading.Event()

        def sample():
            while not stop.wait(1):
                found = re.search(r'"sessions":\s*(\d+)', lab.on_host(vm.name, health))
                if found:
                    held.append(int(found[1]))

        calls, failures = [], []

        def caller(account):
            with UserAgent(*lab.sip, lab.domain, *account, rtp_seconds=args.hold) as agent:
                call = agent.call(mailbox, timeout=15)
                if not call.answered:
                    failures.append(f"{call.status} {call.reason}")
                    return
                calls.append(call.call_id)
                time.sleep(args.hold)
                call.hangup()

        before = int(lab.on_host(vm.name, cpu).strip() or 0)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.monotonic()
        threads = [threading.Thread(target=caller, args=(a,)) for a in callers[:count]]
        for t in threads:
            t.start()
            time.sleep(0.02)
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        stop.set()
        sampler.join(timeout=5)
        time.sleep(2)  # the last messages are written after the BYE
        used = (int(lab.on_host(vm.name, cpu).strip() or 0) - before) / 1e3
        ids = ",".join(f"'{c}'" for c in calls) or "''"
        stored = database_sql(lab, "SELECT count(*), COALESCE(sum(seconds), 0) FROM voicemail_messages "
                                   f"WHERE call_id IN ({ids})").strip()
        messages, seconds = stored.split("|")
        log = lab.on_host(vm.name, f"journalctl -u rtcstack-voicemail --since @{int(started_at)} --no-pager -o cat")
        losses = [float(x) for x in re.findall(r"([0-9.]+) % lost", log)]
        spoken = len(calls) * args.hold  # the greeting takes the first seconds of it
        session_seconds = float(seconds) or 1.0
        rows.append([str(count), str(max(held, default=0)), f"{messages}/{len(calls)}" + (
            f" ({len(failures)} refused: {failures[0]})" if failures else ""),
                     f"{float(seconds):.0f} / {spoken:.0f}", f"{max(losses, default=0):.2f} %",
                     f"{100 * used / wall:.1f} %", f"{1000 * used / session_seconds:.2f} ms"])
        print(rows[-1], flush=True)
    report("Voicemail sessions at once", ["callers", "sessions held (max)", "messages stored",
                                         "seconds recorded / spoken", "recording loss (worst message)",
                                         "voicemail CPU (one core)", "CPU per session-second"], rows,
           notes=f"Each caller holds {args.hold} s of G.711 through rtpengine into one mailbox on {vm.name}; the "
                 "greeting and tone take the first seconds of that (speech over them is not recorded).")


if __name__ == "__main__":
    main()
