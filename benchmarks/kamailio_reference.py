"""The deployed kamailio.cfg vs a minimal reference config (digest auth and location only) on the same
registrar host, same Kamailio, same database and worker count: REGISTER/s and authenticated calls/s with
sipp against each, each at its highest rate without failures. Targets: deployed / reference >= 0.75 for
REGISTER/s, >= 0.5 for calls/s. A second reference, the minimal config plus rtpengine offer, answer and
delete (R4 anchors every call's media), separates the cost of media anchoring from that of the routing logic.

With a new-call rate cap deployed (registrar.max_call_attempts_per_second, the admission limit graceful overload
sheds with), the deployed config's call ladder runs twice: as deployed, where every step past the cap has calls shed
and the figure is the cap's, and once more with the cap lifted (the installed file edited, Kamailio restarted, the
file restored byte for byte and Kamailio restarted again): what the hosts carry per call, as the references are
measured (they have no cap). The calls/s target is the per-call cost's, so it is read on the row with no cap: that
config keeps every behaviour the target names (media through rtpengine, limits, CDRs, numbering, R8's rate caps on
price per minute, scope, bans); an admission cap bounds a ladder at the cap by design, whatever a call costs, and
its row is printed beside with no target.

Overload: past the deployed config's peak call rate, the ladder goes on at 2x and 4x the peak and prints the
goodput of each step (calls completed per second while the burst lasted, from sipp's statistics each second; a
call the registrar sheds with 503 is acknowledged and failed at once); target >= 0.9 x the peak (the config as
deployed: with a cap, the capped ladder's), and, with no target, the goodput as a share of what the hosts carry with
no cap. Five seconds after the 4x burst a run at half the peak must complete every call (back to full service).

The reference instances run beside the deployed one on ports 5070 and 5071 for the duration of the benchmark
(temporary nftables rules open them to this machine); all are measured in the same run. Calls are signalling
only (loadtests/sipp/call_signalling.xml, no hold) from one sipp to a second sipp answering as a registered
account (answer.xml), so the registrar is measured rather than a media peer. Through the deployed config every
call still gets its rtpengine offer/answer/delete, dialog, limits and accounting.

Placement: where the hosts are containers of this machine (the Docker lab), they run on the first half of its cores
and the generator (sipp, and the sipp answering its calls) on the other half (`_load.cores_apart`). A generator on
the hosts' cores takes more of them the more calls per second the config it drives completes, so it slowed the
reference more than the deployed config and the ratios read higher than the configs' costs (2026-12-07, two cores:
calls 0.55-0.60 shared, 0.35-0.41 apart). --shared-cores runs the placement of every run before, for a comparison.

Usage: python benchmarks/kamailio_reference.py [INVENTORY] [--seconds 10] [--shared-cores]
"""

from __future__ import annotations

import re
import signal
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._load import (Lab, command_line, cores_apart, database_sql, fmt, sipp,  # noqa: E402
                              sipp_callee, sipp_ladder)
from rtcstack.protocols.sip.sipp import authentication as sipp_auth  # noqa: E402
from benchmarks._report import ratio as shown, report, speeds  # noqa: E402

REFERENCE_PORT = 5070
MEDIA_REFERENCE_PORT = 5071
#: Overload steps, as multiples of the deployed config's peak call rate, and the goodput each must keep.
OVERLOAD = (2, 4)
OVERLOAD_TARGET = 0.9
RECOVERY_SECONDS = 5
COST_RATES = {"register": 1000, "call": 200}
#: deployed / reference: REGISTER/s and calls/s.
TARGETS = {"register": 0.75, "call": 0.5}
UNCAPPED = "deployed, no rate cap"
#: The login in the references' DBURL (the deployed config's own, from rtcstack-secrets.cfg).
REFERENCE_LOGIN = "kamailio"
REFERENCE = """#!KAMAILIO
import_file "/etc/kamailio/rtcstack-secrets.cfg"
debug=1
log_stderror=no
children={children}
auto_aliases=no
alias="{domain}"
listen=udp:{address}:{port}
loadmodule "db_postgres.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
{media_modules}
modparam("usrloc", "db_mode", 0)
modparam("auth_db", "db_url", "DBURL")
modparam("auth_db", "calculate_ha1", 0)
modparam("auth_db", "password_column", "ha1")
modparam("auth_db", "use_domain", 0)
modparam("auth", "nonce_expire", 300)
request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    force_rport();
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (has_totag()) {{
        if (loose_route()) {{ {media_bye}t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here"); exit;
    }}
    remove_hf("Route");
    if (is_method("REGISTER")) {{
        if (!www_authorize("{domain}", "sip_subscribers")) {{ www_challenge("{domain}", "1"); exit; }}
        consume_credentials();
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    if (is_method("INVITE")) {{
        if (!proxy_authorize("{domain}", "sip_subscribers")) {{ proxy_challenge("{domain}", "1"); exit; }}
        consume_credentials();
        record_route();
        if (!lookup("location")) {{ sl_send_reply("404", "Not Found"); exit; }}
        {media_invite}t_relay();
        exit;
    }}
    if (is_method("ACK")) {{ exit; }}
    sl_send_reply("405", "Method Not Allowed");
}}
{media_reply}"""
#: What the media reference adds: rtpengine offer on the INVITE, answer on its reply, delete on the BYE.
MEDIA = {
    "media_modules": 'loadmodule "rtpengine.so"\nmodparam("rtpengine", "rtpengine_sock", "{sockets}")',
    "media_bye": 'if (is_method("BYE")) {{ rtpengine_delete(); }} ',
    "media_invite": 'rtpengine_offer("replace-origin replace-session-connection"); t_on_reply("MEDIA"); ',
    "media_reply": 'onreply_route[MEDIA] {{ if (has_body("application/sdp")) '
                   '{{ rtpengine_answer("replace-origin replace-session-connection"); }} }}\n',
}


def reference_config(children: str, domain: str, address: str, port: int, sockets: str | None) -> str:
    """The minimal config; with rtpengine `sockets`, the media reference."""
    parts = {key: (value.format(sockets=sockets).replace("{{", "{").replace("}}", "}") if sockets else "")
             for key, value in MEDIA.items()}
    return REFERENCE.format(children=children, domain=domain, address=address, port=port, **parts)


def overload_steps(lab: Lab, call_rows: list[str], peak: float, seconds: int,
                   port: int) -> list[tuple[list[str], float | None]]:
    """Calls at OVERLOAD x the peak, then half the peak RECOVERY_SECONDS after the last burst: each step's row and
    the goodput of a burst (None for the recovery step)."""
    rows: list[tuple[list[str], float | None]] = []
    if not peak:
        return [(["(no peak: the ladder had no clean step)", "-", "-", "-", "-", "-", "-", "NO"], None)]
    for times in OVERLOAD:
        rate = int(peak * times)
        result = sipp(lab, "call_signalling", call_rows, "-r", str(rate), "-m", str(rate * seconds), "-l", "250",
                      "-timeout_error", target_port=port, timeline=True)
        # Completed calls per second while the burst lasted (and one second more for its last calls to finish).
        # Calls that lost a message and wait out sipp's retransmission timers end long after: they are counted
        # as failed, and the step's whole duration is printed beside.
        goodput = result.successful_within(seconds + 1) / (seconds + 1)
        rows.append(([f"{times}x peak ({fmt(peak)}/s)", f"-r {rate}", str(result.successful), str(result.failed),
                      fmt(goodput), fmt(result.seconds), f">= {fmt(OVERLOAD_TARGET * peak)}",
                      "yes" if goodput >= OVERLOAD_TARGET * peak else "NO"], goodput))
    time.sleep(RECOVERY_SECONDS)
    rate = max(1, int(peak / 2))
    result = sipp(lab, "call_signalling", call_rows, "-r", str(rate), "-m", str(rate * seconds), "-l", "250",
                  "-timeout_error", target_port=port)
    rows.append(([f"{RECOVERY_SECONDS} s after the burst, half the peak", f"-r {rate}", str(result.successful),
                  str(result.failed), fmt(result.successful / seconds), fmt(result.seconds), "0 failed",
                  "yes" if not result.failed and result.successful == rate * seconds else "NO"], None))
    return rows


def drain_dialogs(lab: Lab, patience: float = 120) -> int:
    """Wait for the deployed Kamailio's dialogs from a failed step to end (they hold channels); returns those left."""
    deadline = time.monotonic() + patience
    while (left := lab.active_dialogs() or 0) and time.monotonic() < deadline:
        print(f"  waiting for {left} dialog(s) on {lab.registrar.name} to end", file=sys.stderr)
        time.sleep(10)
    return left


def settled_sipp(lab: Lab, *args, **options):
    """sipp, once the dialogs a failed step left on the deployed registrar have ended. Calls whose ACK was lost
    stay answered there until the registrar gives up on the ACK (32 s after the answer; before 2026-12-05 Kamailio's
    own 60 s, then its cleaning timer and 10 s more), holding the load customer's channels: the next step would be
    refused channels (403), not measured. The references keep no dialogs."""
    drain_dialogs(lab, patience=240)
    return sipp(lab, *args, **options)


#: Tables a call or a registration reads or writes, for the scan counts of the statement breakdown.
CALL_TABLES = ("sip_accounts", "customers", "channel_subscriptions", "devices", "video_phones", "ring_groups",
               "ring_group_members", "routing_rules", "numbers", "contacts", "cdrs", "acc", "missed_calls",
               "ledger_entries", "location", "tariffs")


class Statements:
    """The database's own account of a run (pg_stat_statements, statements inside functions included, and the
    tables' scan counters): what each query the registrar sends costs per call, planning apart, and whether the
    tables were read through an index."""

    def __init__(self, lab: Lab):
        self.lab = lab

    def query(self, sql: str) -> list[list[str]]:
        return [line.split("|") for line in database_sql(self.lab, sql).splitlines() if line.strip()]

    def scans(self) -> dict[str, tuple[int, int]]:
        names = ", ".join(f"'{t}'" for t in CALL_TABLES)
        return {name: (int(seq), int(idx or 0)) for name, seq, idx in self.query(
            f"SELECT relname, seq_scan, idx_scan FROM pg_stat_user_tables WHERE relname IN ({names})")}

    def start(self) -> None:
        # Planning is timed for the run only (it costs a little on every statement), then set back.
        self.query("ALTER SYSTEM SET pg_stat_statements.track_planning = on")
        self.query("SELECT pg_reload_conf()")
        time.sleep(1)
        self.query("SELECT pg_stat_statements_reset()")
        self.before = self.scans()

    def stop(self, per: int) -> tuple[list[list[str]], list[list[str]]]:
        statements = self.query(
            "SELECT calls, total_exec_time, total_plan_time, rows, toplevel, "
            "left(regexp_replace(query, '\\s+', ' ', 'g'), 110) FROM pg_stat_statements "
            "WHERE query NOT LIKE '%pg_stat%' AND query NOT LIKE '%pg_reload_conf%' "
            "ORDER BY total_exec_time + total_plan_time DESC LIMIT 14")
        after = self.scans()
        self.query("ALTER SYSTEM RESET pg_stat_statements.track_planning")
        self.query("SELECT pg_reload_conf()")
        rows = []
        for calls, exec_ms, plan_ms, returned, toplevel, text in statements:
            if int(calls) < per // 50:
                continue  # the test harness's own provisioning, not the registrar's (its batched accounting
                # writes run about once per 20 calls: kept)
            rows.append([("" if toplevel == "t" else "  (in a function) ") + "`" + text.replace("|", "/") + "`",
                         fmt(int(calls) / per, 2), fmt(float(exec_ms) * 1000 / per, 0),
                         fmt(float(plan_ms) * 1000 / per, 0), fmt(int(returned) / per, 2)])
        tables = [[name, fmt((after[name][0] - self.before[name][0]) / per, 2),
                   fmt((after[name][1] - self.before[name][1]) / per, 2)]
                  for name in CALL_TABLES if name in after and after[name] != self.before.get(name)]
        return rows, tables


#: The deployed config's new-call rate cap (registrar.max_call_attempts_per_second, pipelimit's two pipes), lifted for
#: one more call ladder: what the hosts carry per call whatever an operator caps it at (the cap is set from this
#: figure: README, about 80 % of it). The installed file is restored byte for byte, so a deploy finds nothing to change.
CAPS = r's/pl_check\("(calls|authorised)", "TAILDROP", [0-9]+\)/pl_check("\1", "TAILDROP", 1000000)/'
INSTALLED = "/etc/kamailio/kamailio.cfg"


@contextmanager
def rate_cap_lifted(lab: Lab):
    """The deployed Kamailio restarted without its rate cap, then restarted with its own config again."""
    lab.on_registrar(f"cp -p {INSTALLED} {INSTALLED}.benchmark")
    try:
        lab.on_registrar(f"sed -i -E '{CAPS}' {INSTALLED} && grep -q 'TAILDROP\", 1000000)' {INSTALLED} && "
                         f"kamailio -c -f {INSTALLED} >/dev/null 2>&1 && "
                         "systemctl restart kamailio && sleep 1 && systemctl is-active kamailio")
        yield
    finally:  # (reset-failed: a refused start has used up systemd's start limit)
        lab.on_registrar(f"mv {INSTALLED}.benchmark {INSTALLED} && systemctl reset-failed kamailio; "
                         "systemctl restart kamailio && sleep 1 && systemctl is-active kamailio")


# The reference Kamailio instances stopped (waiting until they are gone: the next may bind their ports) and the
# firewall rules that let the benchmark reach them removed; harmless when there are none.
STOP_REFERENCES = (
    f"for pid in $(cat /run/kamailio-reference-{REFERENCE_PORT}.pid /run/kamailio-reference-{MEDIA_REFERENCE_PORT}.pid "
    "2>/dev/null); do kill $pid 2>/dev/null; for i in $(seq 50); do kill -0 $pid 2>/dev/null || break; sleep 0.1; "
    "done; done; rm -f /run/kamailio-reference-*.pid; "
    "for h in $(nft -a list chain inet rtcstack input | sed -n 's/.*rtcstack-benchmark.*handle //p'); "
    "do nft delete rule inet rtcstack input handle $h; done; true")


def cost_ratios(totals: dict[tuple[str, str], float], hosts: int) -> list[list[str]]:
    """The CPU table's ratio rows: for each (config, per) measured but the reference's own, the reference's CPU over
    the hosts per registration or call against that config's (what the reference costs per call as a share of it)."""
    rows = []
    for (config, per), total in totals.items():
        reference = totals.get(("reference", per))
        if config != "reference" and reference and total:
            rows.append([f"**{per} CPU, reference / {config}**", "", "", "", "", *([""] * hosts),
                         f"{fmt(reference, 3)} / {fmt(total, 3)} = {shown(reference / total)}"])
    return rows


def verdict(config: str, kind: str, against: str, ratio: float | None, cap: str | None,
            media_share: float | None = None) -> str:
    """The target a ratio row is read against and whether it is met; a missed one names what bounds it.
    `media_share`: the media reference's calls/s over the reference's, context for a missed calls target (not a
    ceiling: that reference has no overload protection, and the deployed config has gone past it)."""
    if config == "reference+media":
        return ("no target: media anchoring alone (R4: rtpengine offer, answer and delete, on the hosts' cores), "
                "with no overload protection")
    if against == "reference+media":
        return "no target: the cost of the routing logic alone"
    if config == "deployed" and kind == "call" and cap is not None:
        return (f"no target: bounded by the inventory's new-call admission cap of {cap}/s "
                "(registrar.max_call_attempts_per_second: graceful overload's, an operator's setting, none by "
                "default); the per-call cost's target is read with no cap, the next row")
    target = TARGETS[kind]
    if ratio is not None and ratio >= target:
        return f"target >= {target}: met"
    bound = (f"target >= {target}: MISSED, bounded by the hosts' CPU per "
             f"{'registration' if kind == 'register' else 'call'} (the CPU table below)")
    if kind == "call" and media_share is not None and media_share < target:
        bound += (f"; the reference with media anchoring alone (R4) reaches {shown(media_share)} of it here "
                  "(the reference+media row)")
    return bound


def main() -> None:
    args, lab = command_line(__doc__, seconds=10, shared_cores=(
        False, "the hosts and the generator on the same cores, as every run before 2026-12-07 (the comparison)"))
    placement = nullcontext("shared cores: the hosts and the generator on all of this machine's cores") \
        if args.shared_cores else cores_apart(lab)
    with placement as where:
        print(f"  {where}", file=sys.stderr)
        measure(args, lab, where)


def measure(args, lab: Lab, where: str) -> None:
    """Every ladder, the overload steps and the CPU runs, each table printed and appended to docs/benchmarks.md."""
    speed_at_start = speeds()
    deployed_cfg = lab.on_registrar("cat /etc/kamailio/kamailio.cfg")
    children = re.search(r"^children=(\d+)", deployed_cfg, re.M).group(1)
    sockets = re.search(r'modparam\("rtpengine", "rtpengine_sock", "([^"]+)"\)', deployed_cfg).group(1)
    references = {"reference": (REFERENCE_PORT, None), "reference+media": (MEDIA_REFERENCE_PORT, sockets)}
    # The references run with the deployed Kamailio's memory manager (-x, TLSF since 2026-12-05): the configs differ,
    # not the runtime.
    running = lab.on_registrar("tr '\\0' ' ' < /proc/$(cat /run/kamailio/kamailio.pid)/cmdline")
    manager = next(iter(re.findall(r"(?:^|\s)-x\s+(\w+)", running)), None)
    memory = f" -x {manager}" if manager else ""
    # A run stopped by a signal cleans up after itself (SIGTERM as SIGINT: the finally below runs); one killed outright
    # left its references running, with the runtime it had: they are stopped before these start.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    lab.on_registrar(STOP_REFERENCES)
    for name, (port, media) in references.items():
        config = reference_config(children, lab.domain, lab.sip[0], port, media)
        lab.on_registrar(f"cat > /tmp/rtcstack-{port}.cfg <<'EOF_CFG'\n{config}EOF_CFG\n"
                         f"kamailio -c -f /tmp/rtcstack-{port}.cfg >/dev/null 2>&1 || "
                         f"{{ kamailio -c -f /tmp/rtcstack-{port}.cfg; exit 1; }}\n"
                         f"PGSSLMODE=disable kamailio -f /tmp/rtcstack-{port}.cfg -P /run/kamailio-reference-{port}.pid "
                         f"-u kamailio -g kamailio -m 256 -M 16{memory} -Y /tmp\n"
                         f"nft insert rule inet rtcstack input udp dport {port} accept comment rtcstack-benchmark")
    table, figures, left, costs, overload = [], {}, 0, [], []
    totals: dict[tuple[str, str], float] = {}  # CPU ms over the hosts per registration or call, by (config, per)
    cap = next(iter(re.findall(r'pl_check\("calls", "TAILDROP", ([0-9]+)\)', deployed_cfg)), None)
    hosts = [lab.registrar.name] + [lab.deployment.hosts_with(role)[0].name for role in ("database", "media")]

    statements, breakdown = Statements(lab), []

    def cost(label: str, kind: str, scenario: str, rows: list[str], rate: int, port: int, *extra: str) -> None:
        """CPU each host spends per registration or call, at a rate both configs handle without failures; for
        the deployed config, the database's statements in that run."""
        if label == "deployed":
            statements.start()
        before = lab.cpu_seconds(hosts)
        result = sipp(lab, scenario, rows, "-r", str(rate), "-m", str(rate * args.seconds), *extra, target_port=port)
        used = {name: seconds - before[name] for name, seconds in lab.cpu_seconds(hosts).items()}
        done = max(result.successful, 1)
        totals[(label, kind)] = sum(used.values()) * 1000 / done
        costs.append([label, kind, f"-r {rate}", str(result.successful), str(result.failed),
                      *(fmt(used[name] * 1000 / done, 3) for name in hosts), fmt(totals[(label, kind)], 3)])
        if label == "deployed":
            breakdown.append((kind, *statements.stop(done)))
    try:
        # The references read passwords as every run of this benchmark has: through sip_subscribers, the view with
        # the caller's limits (the deployed config reads it through call_start(), as its owner). The registrars'
        # login may read the view while the benchmark runs (revoked below, whatever happens), no longer.
        statements.query(f"GRANT SELECT ON sip_subscribers TO {REFERENCE_LOGIN}")
        registering = lab.accounts("sip_register", 100)
        register_rows = [f"{u};{sipp_auth(u, p)};{lab.domain}" for u, p in registering]
        (caller, caller_pw), callee = lab.accounts("sip_calls", 2)
        call_rows = [f"{caller};{sipp_auth(caller, caller_pw)};{lab.domain};{callee[0]}"]
        configs = (("deployed", lab.sip[1]), ("reference+media", MEDIA_REFERENCE_PORT), ("reference", REFERENCE_PORT))
        for label, port in configs:
            if label != "reference+media":  # (its REGISTER is the reference's)
                figures[(label, "register")], runs = sipp_ladder(
                    lab, "register", register_rows, [400, 800, 1600, 3200, 6400, 12800], args.seconds,
                    "-l", "400", "-timeout_error", target_port=port)
                table += [[label, "register", f"-r {rate}", str(r.successful), str(r.failed), fmt(r.rate)]
                          for rate, r in runs]
                cost(label, "registration", "register", register_rows, COST_RATES["register"], port, "-l", "400")
            with sipp_callee(lab, callee, port):
                figures[(label, "call")], runs = sipp_ladder(
                    lab, "call_signalling", call_rows, [100, 200, 400, 800, 1600, 3200], args.seconds,
                    "-l", "250", "-timeout_error", target_port=port,
                    run_sipp=settled_sipp if label == "deployed" else None)
                if label == "deployed":
                    left = drain_dialogs(lab)
                # Each config's CPU per call right after its own ladder: the deployed config's before its overload
                # bursts, not after them (measured after, at 12:50 on 2026-12-07, its rtpengine host read 0.735 ms a
                # call against the media reference's 0.505; ad hoc at the same rate, one after the other, 0.47-0.56
                # against 0.51-0.54).
                cost(label, "call", "call_signalling", call_rows, COST_RATES["call"], port, "-l", "250")
                if label == "deployed":
                    overload += overload_steps(lab, call_rows, figures[(label, "call")], args.seconds, port)
                    left = max(left, drain_dialogs(lab))
            table += [[label, "call", f"-r {rate}", str(r.successful), str(r.failed), fmt(r.rate)] for rate, r in runs]
            if label == "deployed" and cap is not None:
                with rate_cap_lifted(lab), sipp_callee(lab, callee, port):
                    figures[(UNCAPPED, "call")], runs = sipp_ladder(
                        lab, "call_signalling", call_rows, [100, 200, 400, 800, 1600, 3200], args.seconds,
                        "-l", "250", "-timeout_error", target_port=port, run_sipp=settled_sipp)
                    drain_dialogs(lab)
                table += [[UNCAPPED, "call", f"-r {rate}", str(r.successful), str(r.failed), fmt(r.rate)]
                          for rate, r in runs]
    finally:
        statements.query(f"REVOKE SELECT ON sip_subscribers FROM {REFERENCE_LOGIN}")
        lab.on_registrar(STOP_REFERENCES)
    media, bare = figures.get(("reference+media", "call")), figures.get(("reference", "call"))
    media_share = media / bare if media and bare else None
    for config, kind, against in (("deployed", "register", "reference"), ("deployed", "call", "reference"),
                                  (UNCAPPED, "call", "reference"), ("deployed", "call", "reference+media"),
                                  (UNCAPPED, "call", "reference+media"), ("reference+media", "call", "reference")):
        if (config, kind) not in figures:
            continue
        deployed, reference = figures[(config, kind)], figures[(against, kind)]
        ratio = deployed / reference if reference else None
        read = verdict(config, kind, against, ratio, cap, media_share)
        table.append([f"**{kind} ratio, {config} / {against}**", "", "", "", "",
                      f"{fmt(deployed)} / {fmt(reference)} = {shown(ratio)} ({read})"])
    report(f"Deployed kamailio.cfg vs a minimal auth+location config, same host, {args.inventory}",
           ["config", "sipp scenario", "rate asked", "successful", "failed", "per second"], table,
           f"Both Kamailio instances on {lab.registrar.name} with {children} UDP workers, the same database and the "
           f"same memory manager ({manager or 'Kamailio default'}). "
           "The reference has no flood checks, sanity checks, limits, numbering, accounting or rtpengine; auth_db reads "
           "each password from sip_subscribers, as in every run before (the deployed config: its own cache or "
           "registrant_ha1() for a REGISTER, call_start() for a call). "
           "Each ladder doubles the rate until a step fails or completes below 90 % of its rate (it fell behind), then "
           "bisects twice between the highest rate sustained and the lowest not (benchmarks/_ladder.py); the figure "
           "is the most completed per second by a step with none failed; a ladder that ends "
           "without a failure bounds the rate from below. Calls: at most 250 at once (-l 250), no hold; each of the "
           "deployed config's call steps starts once the dialogs a failed step left (answered, ACK lost) have ended. "
           f"Dialogs still active on the deployed registrar 120 s after its call ladder: {left}. "
           f"At the start of the run: {speed_at_start} (the Machine line: at its end). Placement: {where}.")
    carried = figures.get((UNCAPPED, "call"), figures.get(("deployed", "call")))
    report(f"Overload: the deployed kamailio.cfg past its peak call rate, {args.inventory}",
           ["step", "rate asked", "successful", "failed", "goodput per second", "step's seconds", "target", "met",
            "goodput / no-cap peak"],
           [row + [shown(goodput / carried) if goodput is not None and carried else "-"] for row, goodput in overload],
           f"sipp's signalling-only calls (at most 250 at once) against the deployed config at 2x and 4x the peak "
           f"call rate its ladder found, {args.seconds} s of calls each; goodput is the calls completed per second "
           f"while the burst lasted (its {args.seconds} s and one more, from sipp's statistics each second). Calls "
           f"the registrar shed (503) are failed at once; calls that lost a message wait out sipp's retransmission "
           f"timers and end the step later, as failed (the step's seconds). Then, {RECOVERY_SECONDS} s after the "
           f"last burst, half the peak rate: every call must complete (back to full service). The last column, "
           f"no target: a burst's goodput as a share of what the hosts carry with no cap (the call ladder's row with "
           f"no rate cap): how much of the hosts' capacity the inventory's admission cap keeps in a burst. "
           f"Placement: {where}.")
    report(f"CPU per registration and per call, deployed kamailio.cfg vs the minimal ones, {args.inventory}",
           ["config", "per", "rate", "successful", "failed", *(f"{name} CPU (ms)" for name in hosts), "all (ms)"],
           costs + cost_ratios(totals, len(hosts)),
           "CPU time of each host (its container's cgroup in the Docker lab) over a fixed-rate sipp run that both "
           "configs handle, divided by the successful registrations or calls: where the deployed config's extra "
           "work goes. The reference's rows for the database and media hosts are near zero by design. The ratio rows, "
           "no target: the reference's CPU over the hosts per call or registration against the deployed config's at "
           "the same rate, to read beside the ladders' ratios: a config's CPU per call falls as its rate rises (its "
           "workers find the next message waiting; on 2026-12-07 the reference's read 1.10 ms at 500 calls/s and "
           "0.76 at 1,300), so the ladders, each at its own peak, read lower than the costs at one rate. "
           f"Placement: {where}.")
    for kind, rows, tables in breakdown:
        report(f"The database's statements per {kind}, deployed kamailio.cfg, {args.inventory}",
               ["statement", f"runs per {kind}", "execution µs", "planning µs", "rows"], rows,
               "From pg_stat_statements over the deployed config's CPU run above (statements inside PL/pgSQL "
               "functions are listed under the call that ran them, and their time is part of its time). Table "
               "scans in the same run, per " + kind + " (sequential / index): " + "; ".join(
                   f"{name} {seq} / {idx}" for name, seq, idx in tables) + ". A sequential scan of a table of a few "
               "hundred rows is the planner's choice at the lab's size, not a missing index.")


if __name__ == "__main__":
    main()
