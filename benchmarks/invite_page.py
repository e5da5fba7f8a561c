"""The invite page and redeem through the edge, in one run: the page's requests/s and p95 against nginx serving a
static file of the same size from the same edge (same clients, same connections, same duration; the ratio is the
figure), then redeems/s and p95 of fresh invites (each creates a SIP account).

Usage: python benchmarks/invite_page.py [INVENTORY] [--clients 16] [--seconds 15] [--redeems 600]
"""

from __future__ import annotations

import http.client
import secrets
import ssl
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._http import clients, p95, static_file  # noqa: E402
from benchmarks._load import command_line, fmt  # noqa: E402
from benchmarks._report import report  # noqa: E402


def main() -> None:
    args, lab = command_line(__doc__, clients=16, seconds=15, redeems=600)
    from rtcstack.cli.links import link_settings
    from rtcstack.domain.links import add_video_phone, issue_bulk
    from rtcstack.domain.provisioning import add_customer
    from rtcstack.load.context import CUSTOMER
    from rtcstack.roles.links import public_url
    from rtcstack.runtime.database import Database

    d = lab.deployment
    edge = d.hosts_with("edge")[0]
    address, host = str(edge.advertised_address), public_url(d).split("://")[1]
    db = Database.connect(lab.site)
    add_customer(db, CUSTOMER, None, False, None)
    phone = f"bench-vp-{secrets.token_hex(3)}"
    add_video_phone(db, d.sip_domain, phone, CUSTOMER, "Benchmark")
    tokens = issue_bulk(db, link_settings(d), phone, f"bench-{secrets.token_hex(2)}-", 1 + args.redeems)
    page = f"/i/{tokens[0]}"
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    conn = http.client.HTTPSConnection(address, 443, timeout=10, context=context)
    conn.request("GET", page, headers={"Host": host})
    size = len(conn.getresponse().read())
    static = static_file(lab, edge, size)

    results = {}
    for name, path in (("nginx static file", static), ("invite page (links)", page)):
        print(f"  {name}: {args.clients} clients for {args.seconds} s", file=sys.stderr)
        runs = clients([{"kind": "get", "address": address, "host": host, "path": path, "seconds": args.seconds}]
                       * args.clients)
        latencies = [x for run in runs for x in run["latencies"]]
        results[name] = {"requests": len(latencies), "errors": sum(r["errors"] for r in runs),
                         "rate": len(latencies) / args.seconds, "p95": p95(latencies)}
    print(f"  redeem: {args.redeems} fresh invites over {args.clients} clients", file=sys.stderr)
    runs = clients([{"kind": "redeem", "address": address, "host": host, "tokens": tokens[1 + i::args.clients]}
                    for i in range(args.clients)])
    latencies = [x for run in runs for x in run["latencies"]]
    wall = max(run["seconds"] for run in runs)
    redeem = {"requests": len(latencies), "errors": sum(r["errors"] for r in runs), "rate": len(latencies) / wall,
              "p95": p95(latencies)}
    static_r, page_r = results["nginx static file"], results["invite page (links)"]
    ratio = page_r["rate"] / static_r["rate"] if static_r["rate"] else None
    rows = [[name, str(r["requests"]), str(r["errors"]), fmt(r["rate"], 0), fmt(r["p95"], 1)]
            for name, r in (*results.items(), ("redeem (creates an account)", redeem))]
    rows.append(["**invite page / static**", "", "", fmt(ratio, 3), fmt(
        page_r["p95"] / static_r["p95"] if page_r["p95"] and static_r["p95"] else None, 1) + "x"])
    report(f"Invite page and redeem through the edge, {args.clients} clients, {size}-byte page, {args.inventory}",
           ["what", "answers", "errors", "per second", "p95 (ms)"], rows,
           "Same edge, same clients (one kept-alive HTTPS connection each, in separate processes on this machine), "
           "same duration. The page is rendered per request (database lookup, QR code, Babel catalog); the static "
           "reference is nginx serving a file of the same size. The last row: requests/s and p95 as a ratio.")


if __name__ == "__main__":
    main()
