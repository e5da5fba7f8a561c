"""The per-unit costs docs/capacity.md needs and the other benchmarks do not print, measured on a deployed lab
(the scale lab by default) in one run:

- a keepalive: the registrar's CPU while it keeps registered contacts alive and nothing else happens;
- a dialog: the registrar's shared memory while calls are held, per call;
- a relayed RTP stream: the media hosts' CPU per stream-second while those calls send G.711 both ways;
- a TURN relay: the TURN host's CPU per relayed stream-second (turnutils_uclient, 50 packets/s per client).

Usage: python benchmarks/capacity_probes.py [inventories/scale.py] [--calls 40] [--seconds 20] [--contacts 2000]
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._load import command_line, fmt, shm_used, sipp  # noqa: E402
from rtcstack.protocols.sip.sipp import authentication as sipp_auth  # noqa: E402
from benchmarks._report import report  # noqa: E402


def main() -> None:
    args, lab = command_line(__doc__, calls=40, seconds=20, contacts=2000)
    from rtcstack.protocols.sip.agent import UserAgent

    d = lab.deployment
    registrars, media, turns = d.hosts_with("registrar"), d.hosts_with("media"), d.hosts_with("turn")
    first = registrars[0].name
    rows = []

    # Keepalives: contacts registered through the first registrar (sipp's, which do not answer them), then idle.
    contacts = lab.accounts("sip_register", args.contacts)
    sipp(lab, "register", [f"{u};{sipp_auth(u, p)};{lab.domain}" for u, p in contacts], "-r", "500", "-m",
         str(len(contacts)), "-l", "400")
    time.sleep(10)
    # (usrloc's statistics: `ul.dump` of thousands of contacts is more than kamcmd's reply buffer holds)
    held = int(re.search(r"location_contacts = (\d+)", lab.on_host(first, "kamcmd stats.get_statistics usrloc:"))
               .group(1))
    before = lab.cpu_seconds([first])[first]
    time.sleep(args.seconds)
    used = lab.cpu_seconds([first])[first] - before
    sent = held * args.seconds / d.registrar.keepalive_interval_seconds
    rows.append(["keepalive (OPTIONS to a registered contact)", f"{held} contacts, every "
                 f"{d.registrar.keepalive_interval_seconds} s, {args.seconds} s", f"{first} CPU",
                 fmt(used * 1e6 / max(sent, 1), 1) + " µs"])

    # Held calls with RTP: callers through the first registrar, callees through the last.
    customer_accounts = lab.accounts("sip_calls", 2 * args.calls)
    pairs = [(customer_accounts[2 * i], customer_accounts[2 * i + 1]) for i in range(args.calls)]
    phones = []
    for caller, callee in pairs:
        b = UserAgent(str(registrars[-1].private_address), d.registrar.sip_port, lab.domain, *callee,
                      rtp_seconds=args.seconds + 5)
        a = UserAgent(str(registrars[0].private_address), d.registrar.sip_port, lab.domain, *caller,
                      rtp_seconds=args.seconds + 5)
        phones += [a, b]
        assert b.register().status == 200 and a.register().status == 200
    time.sleep(8)  # the registrations' transactions are gone (tm's wait timer)
    memory = {h.name: shm_used(lab, h.name) for h in registrars}
    calls, lock = [], threading.Lock()

    def place(a, callee):
        call = a.call(callee[0])
        with lock:
            calls.append(call)

    threads = [threading.Thread(target=place, args=(phones[2 * i], pairs[i][1])) for i in range(args.calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answered = [c for c in calls if c.answered]
    time.sleep(6)  # the INVITE transactions are gone (tm's wait timer): what stays is the dialogs
    grown = {name: (shm_used(lab, name) - memory[name]) / max(len(answered), 1) for name in memory}
    media_names = [h.name for h in media]
    before = lab.cpu_seconds(media_names)
    window = args.seconds - 8
    time.sleep(window)
    used = lab.cpu_seconds(media_names)
    stream_seconds = 2 * len(answered) * window
    for call in answered:
        call.hangup()
    for phone in phones:
        phone.close()
    for name, bytes_per in grown.items():
        rows.append(["dialog (a held call)", f"{len(answered)} of {args.calls} calls answered", f"{name} shared memory",
                     fmt(bytes_per / 1024, 1) + " KiB"])
    rows.append(["relayed RTP stream (G.711, 50 packets/s)", f"{2 * len(answered)} streams, {window} s",
                 " + ".join(media_names) + " CPU",
                 fmt(sum(used[n] - before[n] for n in media_names) * 1e6 / max(stream_seconds, 1), 1)
                 + " µs per stream-second"])

    # TURN: relays through the first TURN host to turnutils_peer on this machine.
    machine = lab.me
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((machine, 0))
        peer_port = probe.getsockname()[1]
    peer = subprocess.Popen(["turnutils_peer", "-L", machine, "-p", str(peer_port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        clients, messages = min(20, d.turn.user_quota // 2), args.seconds * 50  # two allocations per client
        turn = turns[0]
        before = lab.cpu_seconds([turn.name])[turn.name]
        started = time.monotonic()
        from rtcstack.protocols.turn_rest import rest_credentials

        creds = rest_credentials(d.secret("turn_shared_secret"), f"capacity-{int(time.time())}", 3600)
        out = subprocess.run(["turnutils_uclient", "-u", creds.username, "-w", creds.password, "-e",
                              machine, "-r", str(peer_port), "-c", "-n", str(messages), "-m", str(clients), "-l", "172",
                              "-z", "20", str(turn.advertised_address), "-p", str(d.turn.listening_port)],
                             capture_output=True, text=True, timeout=args.seconds * 4 + 60)
        elapsed = time.monotonic() - started
        used = lab.cpu_seconds([turn.name])[turn.name] - before
        found = re.findall(r"tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", out.stdout + out.stderr)  # the last: totals
        relayed = int(found[-1][1]) if found else 0
        rows.append(["TURN relayed stream (172 bytes, 50 packets/s, echoed)", f"{clients} clients, {relayed} echoes",
                     f"{turn.name} CPU", fmt(used * 1e6 / max(relayed / 50, 1), 1) + " µs per stream-second"
                     + f" ({elapsed:.0f} s run)"])
    finally:
        peer.terminate()
        peer.wait(timeout=5)
    report(f"Capacity probes: keepalives, dialogs, relayed streams, {args.inventory}",
           ["unit", "measured over", "where", "cost"], rows,
           "CPU time of each host's container over the window, divided by the units in it. Memory: Kamailio's shared "
           "memory in use during the held calls minus before, per answered call, once the INVITE transactions are "
           "gone. The media and TURN figures include what the hosts do besides (their idle cost).")


if __name__ == "__main__":
    main()
