"""What scale-out costs, on the scale lab (inventories/scale.py): CPU per registration and per call on every host
involved when the registrars form a cluster, for the two ways of sharing registrations, measured in one run:

- **DMQ** (the deployed config): each registrar keeps every contact in memory, replicated over DMQ; each writes
  its contacts through to the location table (an upsert, so a replicated copy updates the same row);
- **shared table**: usrloc in PostgreSQL only (`db_mode 3`), every registrar reading the table for each lookup,
  no replication (the deployed config changed in place for the run, then put back).

Plus the memory one registration takes in each registrar's shared memory (the one it came through and the one
it was replicated to). Calls go from a caller registered through the first registrar to a callee registered
through the second (the Path case: both registrars and both media hosts work). docs/capacity.md is built on these.

Usage: python benchmarks/cluster_costs.py [inventories/scale.py] [--seconds 10] [--registrations 2000]
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._load import command_line, fmt, shm_used, sipp, sipp_callee, sipp_ladder  # noqa: E402
from rtcstack.protocols.sip.sipp import authentication as sipp_auth  # noqa: E402
from benchmarks._report import report  # noqa: E402

CFG = "/etc/kamailio/kamailio.cfg"
SHARED_TABLE = ("sed -i -e 's/\"usrloc\", \"db_mode\", 1)/\"usrloc\", \"db_mode\", 3)/' "
                "-e 's/\"dmq_usrloc\", \"enable\", 1)/\"dmq_usrloc\", \"enable\", 0)/' " + CFG)
REGISTER_RATE, CALL_RATE = 500, 100


def unregistered(lab, pool: list[tuple[str, str]], count: int, taken: dict) -> list[tuple[str, str]]:
    """`count` accounts of the pool that no registrar holds (not used by an earlier mode of this run either)."""
    held = set(re.findall(r"AoR: (\S+)", lab.on_host(lab.deployment.hosts_with("registrar")[0].name, "kamcmd ul.dump")))
    out = [a for a in pool if a[0] not in held and a[0] not in taken][:count]
    taken.update(dict(out))
    if len(out) < count:
        sys.exit(f"only {len(out)} of the test accounts are unregistered: wait for earlier registrations to expire")
    return out


def settle(lab, registrar: tuple[str, int], account: tuple[str, str], patience: float = 90) -> None:
    """Wait until a REGISTER through `registrar` succeeds again (after an overload step of the ladder)."""
    from rtcstack.protocols.sip.agent import UserAgent

    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        with UserAgent(*registrar, lab.domain, *account) as phone:
            reply = phone.register(expires=60, timeout=5)
            if reply is not None and reply.status == 200:
                phone.register(expires=0, timeout=5)
                return
        time.sleep(3)
    sys.exit(f"{registrar[0]} still refuses registrations {patience:.0f} s after the ladder")


def restart(lab, hosts: list[str]) -> None:
    for host in hosts:  # one at a time, each serving before the next (as a deploy restarts them)
        lab.on_host(host, "systemctl restart kamailio && for i in $(seq 100); do kamcmd core.uptime >/dev/null 2>&1 "
                          "&& break; sleep 0.2; done")
    time.sleep(2)


def main() -> None:
    args, lab = command_line(__doc__, seconds=10, registrations=2000)
    if args.inventory == "inventories/lab.py":
        args.inventory = "inventories/scale.py"
        lab = type(lab)(args.inventory)
    registrars = lab.deployment.hosts_with("registrar")
    if len(registrars) < 2:
        sys.exit(f"{args.inventory} has one registrar: this benchmark needs a cluster (inventories/scale.py)")
    first, second = (h.name for h in registrars[:2])
    hosts = [first, second, *(h.name for h in lab.deployment.hosts_with("database")),
             *(h.name for h in lab.deployment.hosts_with("media"))]
    sip_first = (str(registrars[0].private_address), lab.deployment.registrar.sip_port)
    sip_second = (str(registrars[1].private_address), lab.deployment.registrar.sip_port)

    # Accounts registered for the first time in each mode (the memory they take), after any earlier run's.
    pool = lab.accounts("sip_register", 100 + 2 * args.registrations + 4000)
    refreshing = [f"{u};{sipp_auth(u, p)};{lab.domain}" for u, p in pool[:100]]
    fresh = {}
    (caller, caller_pw), callee = lab.accounts("sip_calls", 2)
    call_rows = [f"{caller};{sipp_auth(caller, caller_pw)};{lab.domain};{callee[0]}"]
    costs, ladder, memory = [], [], []

    def cost(mode: str, per: str, scenario: str, rows: list[str], rate: int, *extra: str) -> None:
        before = lab.cpu_seconds(hosts)
        result = sipp(lab, scenario, rows, "-r", str(rate), "-m", str(rate * args.seconds), *extra)
        used = {name: seconds - before[name] for name, seconds in lab.cpu_seconds(hosts).items()}
        done = max(result.successful, 1)
        costs.append([mode, per, f"-r {rate}", str(result.successful), str(result.failed),
                      *(fmt(used[name] * 1000 / done, 3) for name in hosts),
                      fmt(sum(used.values()) * 1000 / done, 3)])

    def measure(mode: str) -> None:
        many = unregistered(lab, pool[100:], args.registrations, fresh)
        lab.sip = sip_first
        used = {h: shm_used(lab, h) for h in (first, second)}
        sipp(lab, "register", [f"{u};{sipp_auth(u, p)};{lab.domain}" for u, p in many], "-r", str(REGISTER_RATE),
             "-m", str(len(many)), "-l", "400")
        time.sleep(10)  # transactions and DMQ jobs of the burst are gone: what stays is the registrations
        grown = {h: (shm_used(lab, h) - used[h]) / len(many) for h in (first, second)}
        memory.append([mode, str(len(many)), fmt(grown[first], 0), fmt(grown[second], 0)])
        cost(mode, "registration", "register", refreshing, REGISTER_RATE, "-l", "400")
        best, runs = sipp_ladder(lab, "register", refreshing, [500, 1000, 2000, 4000, 8000], args.seconds, "-l", "400",
                                 "-timeout_error")
        ladder.append([mode, "REGISTER/s through one registrar", fmt(best)])
        settle(lab, sip_second, callee)  # the ladder ends past what the registrars carry: let them drain first
        lab.sip = sip_second
        with sipp_callee(lab, callee):
            lab.sip = sip_first
            cost(mode, "call (callee on the other registrar)", "call_signalling", call_rows, CALL_RATE, "-l", "250")
            best, runs = sipp_ladder(lab, "call_signalling", call_rows, [100, 200, 400, 800], args.seconds, "-l",
                                     "250", "-timeout_error")
            ladder.append([mode, "calls/s, callee on the other registrar", fmt(best)])
            lab.sip = sip_second

    changed = []
    try:
        measure("DMQ (deployed)")
        for host in (first, second):
            lab.on_host(host, f"cp -p {CFG} /tmp/kamailio.cfg.deployed && {SHARED_TABLE} && kamailio -c -f {CFG} >/dev/null")
            changed.append(host)
        restart(lab, [first, second])
        measure("shared table (db_mode 3)")
    finally:
        for host in changed:  # the deployed config back, as this run found it
            lab.on_host(host, f"mv /tmp/kamailio.cfg.deployed {CFG}")
        if changed:
            restart(lab, changed)
    report(f"Registrar cluster: CPU per registration and per call on each host, {args.inventory}",
           ["sharing", "per", "rate", "successful", "failed", *(f"{h} CPU (ms)" for h in hosts), "all hosts (ms)"],
           costs,
           "CPU time of each host's container over a fixed-rate sipp run through the first registrar, divided by the "
           "successful registrations or calls. Registrations refresh 100 accounts; calls go to a callee registered "
           "through the second registrar (Path: it relays the call to the callee; the first anchors the media, counts "
           "the channel in PostgreSQL and writes the CDR).")
    report(f"Registrar cluster: highest rates without failures, and shared memory per registration, {args.inventory}",
           ["sharing", "figure", "value"],
           ladder + [[m[0], f"shared memory per registration ({m[1]} accounts): {first} / {second} (bytes)",
                      f"{m[2]} / {m[3]}"] for m in memory])


if __name__ == "__main__":
    main()
