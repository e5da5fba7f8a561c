"""The deployed kamailio.cfg vs a minimal reference config (digest auth and location only) on the same
registrar host, same Kamailio, same database and worker count: REGISTER/s with sipp against each.
Target: deployed / reference >= 0.75. (Calls/s is not measured yet: the sipp call run against the two
instances did not complete in my first attempt; the reference config routes calls already.)

The reference instance runs beside the deployed one on port 5070 for the duration of the benchmark (a
temporary nftables rule opens it to this machine); both are measured in the same run.

Usage: python benchmarks/kamailio_reference.py [INVENTORY] [--seconds 15]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._load import Lab, fmt, sipp, sipp_auth  # noqa: E402
from benchmarks._report import report  # noqa: E402

REFERENCE_PORT = 5070
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
        if (loose_route()) {{ t_relay(); exit; }}
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
        t_relay();
        exit;
    }}
    if (is_method("ACK")) {{ exit; }}
    sl_send_reply("405", "Method Not Allowed");
}}
"""


def best(lab: Lab, port: int, scenario: str, rows_for, rates, seconds: int, table: list, label: str, **extra) -> float:
    top = 0.0
    for rate in rates:
        count = rate * seconds
        result = sipp(lab, scenario, rows_for(), "-r", str(rate), "-m", str(count), "-l", str(rate * 4),
                      "-timeout_error", *extra.get("args", ()), target_port=port)
        table.append([label, scenario, f"-r {rate}", str(result.successful), str(result.failed), fmt(result.rate)])
        if result.failed or result.successful < count:
            break
        top = max(top, result.rate)
    return top


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inventory", nargs="?", default="inventories/lab.py")
    parser.add_argument("--seconds", type=int, default=15)
    args = parser.parse_args()
    lab = Lab(args.inventory)
    deployed_cfg = lab.on_registrar("cat /etc/kamailio/kamailio.cfg")
    children = re.search(r"^children=(\d+)", deployed_cfg, re.M).group(1)
    config = REFERENCE.format(children=children, domain=lab.domain, address=lab.sip[0], port=REFERENCE_PORT)
    lab.on_registrar(f"cat > /tmp/rtcstack-reference.cfg <<'EOF_CFG'\n{config}EOF_CFG\n"
                     "kamailio -c -f /tmp/rtcstack-reference.cfg >/dev/null 2>&1 || "
                     "{ kamailio -c -f /tmp/rtcstack-reference.cfg; exit 1; }\n"
                     "PGSSLMODE=disable kamailio -f /tmp/rtcstack-reference.cfg -P /run/kamailio-reference.pid "
                     "-u kamailio -g kamailio -m 256 -M 16 -Y /tmp\n"
                     f"nft insert rule inet rtcstack input udp dport {REFERENCE_PORT} accept comment rtcstack-benchmark")
    table = []
    try:
        accounts = lab.accounts("sip_register", 100)
        figures = {}
        for label, port in (("deployed", lab.sip[1]), ("reference", REFERENCE_PORT)):
            figures[(label, "register")] = best(
                lab, port, "register", lambda: [f"{u};{sipp_auth(u, p)};{lab.domain}" for u, p in accounts],
                (400, 800, 1600, 3200, 6400, 12800), args.seconds, table, label)
    finally:
        lab.on_registrar("kill $(cat /run/kamailio-reference.pid) 2>/dev/null; "
                         "for h in $(nft -a list chain inet rtcstack input | sed -n 's/.*rtcstack-benchmark.*handle //p'); "
                         "do nft delete rule inet rtcstack input handle $h; done; true")
    for kind in ("register",):
        deployed, reference = figures[("deployed", kind)], figures[("reference", kind)]
        ratio = deployed / reference if reference else None
        table.append([f"**{kind} ratio**", "", "", "", "", f"{fmt(ratio, 2)} (target >= 0.75: "
                      f"{'met' if ratio is not None and ratio >= 0.75 else 'MISSED'})"])
    report(f"Deployed kamailio.cfg vs a minimal auth+location config, same host, {args.inventory}",
           ["config", "sipp scenario", "rate asked", "successful", "failed", "per second"], table,
           f"Both Kamailio instances on {lab.registrar.name} with {children} UDP workers and the same database. "
           "The reference has no flood checks, sanity checks, limits, numbering, accounting or rtpengine. "
           "Each ladder stops at the first failure; a ladder that ends without one bounds the rate from below.")


if __name__ == "__main__":
    main()
