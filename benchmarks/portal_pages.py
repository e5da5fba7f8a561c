"""The portal's dashboard and billing history through the edge at 50 and 200 users, in one run, beside nginx serving
a static file of the dashboard's size from the same edge: requests/s and p95 of each (same clients, connections and
duration; the ratios are the figures). Users are closed-loop: each is a kept-alive HTTPS connection that sends its
next request when the answer arrives, logged in as a customer user of the load customer, whose billing history
holds --cdrs call records (a first page of 50 rows is rendered per request).

Usage: python benchmarks/portal_pages.py [INVENTORY] [--seconds 10] [--cdrs 20000] [--processes 8]
"""

from __future__ import annotations

import http.client
import ssl
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._http import clients, p95, static_file  # noqa: E402
from benchmarks._load import command_line, fmt  # noqa: E402
from benchmarks._report import report  # noqa: E402

USERS = (50, 200)


def seed_cdrs(db, customer: str, count: int) -> int:
    """`count` answered and refused calls of the load customer over the last month (once; marked bench-)."""
    have = int(db.run(f"SELECT count(*) FROM cdrs WHERE call_id LIKE 'bench-%' AND customer_id = "
                      f"(SELECT id FROM customers WHERE name = '{customer}')")[0][0])
    if have < count:
        db.run(f"""INSERT INTO cdrs (call_id, customer_id, caller, callee, destination, start_time, answer_time,
                   end_time, duration_seconds, sip_code, sip_reason, price_per_minute)
            SELECT 'bench-' || g || '-' || md5(random()::text), c.id, 'load-bench-' || (g % 40), '0048221234' || (g % 1000),
                   '48221234' || (g % 1000), now() - g * interval '2 minutes',
                   CASE WHEN g % 5 = 0 THEN NULL ELSE now() - g * interval '2 minutes' + interval '3 seconds' END,
                   now() - g * interval '2 minutes' + interval '90 seconds',
                   CASE WHEN g % 5 = 0 THEN 0 ELSE 87 END, CASE WHEN g % 5 = 0 THEN 486 ELSE 200 END,
                   CASE WHEN g % 5 = 0 THEN 'Busy Here' ELSE 'OK' END, 0.09
            FROM generate_series({have + 1}, {count}) g, customers c WHERE c.name = '{customer}'""")
    return count


def main() -> None:
    args, lab = command_line(__doc__, seconds=10, cdrs=20000, processes=8)
    from rtcstack.domain.portal import Limits, load_sessions
    from rtcstack.domain.provisioning import add_customer
    from rtcstack.load.context import CUSTOMER
    from rtcstack.roles.portal import public_url
    from rtcstack.runtime.database import Database

    d = lab.deployment
    if not d.hosts_with("portal"):
        sys.exit(f"{args.inventory} has no portal host")
    edge = d.hosts_with("edge")[0]
    address, host = str(edge.advertised_address), public_url(d).split("://")[1]
    db = Database.connect(lab.site)
    add_customer(db, CUSTOMER, None, False, None)
    seed_cdrs(db, CUSTOMER, args.cdrs)
    cookie = {"Cookie": f"portal_session={load_sessions(db, CUSTOMER, 1, Limits(session_hours=2))[0]}"}
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    conn = http.client.HTTPSConnection(address, 443, timeout=10, context=context)
    conn.request("GET", "/dashboard", headers={"Host": host, **cookie})
    answer = conn.getresponse()
    size = len(answer.read())
    if answer.status != 200:
        sys.exit(f"the dashboard answered {answer.status}: is the portal deployed?")
    static = static_file(lab, edge, size)

    rows, figures = [], {}
    for users in USERS:
        processes = min(args.processes, users)
        for name, path, headers in (("nginx static file", static, {}), ("dashboard", "/dashboard", cookie),
                                    ("billing history", "/billing", cookie)):
            print(f"  {name}: {users} users for {args.seconds} s", file=sys.stderr)
            share = [users // processes + (1 if i < users % processes else 0) for i in range(processes)]
            runs = clients([{"kind": "get", "address": address, "host": host, "path": path, "headers": headers,
                             "seconds": args.seconds, "connections": n} for n in share])
            latencies = [x for run in runs for x in run["latencies"]]
            figures[(users, name)] = rate, p = len(latencies) / args.seconds, p95(latencies)
            rows.append([str(users), name, str(len(latencies)), str(sum(r["errors"] for r in runs)), fmt(rate, 0),
                         fmt(p, 1)])
        static_rate, static_p95 = figures[(users, "nginx static file")]
        for name in ("dashboard", "billing history"):
            rate, p = figures[(users, name)]
            rows.append([str(users), f"**{name} / static**", "", "", fmt(rate / static_rate if static_rate else None, 3),
                         fmt(p / static_p95 if p and static_p95 else None, 1) + "x"])
    report(f"Portal pages through the edge at {' and '.join(map(str, USERS))} users, {size}-byte dashboard, "
           f"{args.cdrs} CDRs, {args.inventory}",
           ["users", "what", "answers", "errors", "per second", "p95 (ms)"], rows,
           f"Same edge, same clients ({args.processes} processes on this machine, one kept-alive HTTPS connection per "
           "user, closed loop), same duration. Each portal request looks the session up, renders a Jinja2 page in the "
           "user's language and reads the customer's balance (the dashboard also its lamps' registrations and latest "
           "calls; the billing page 51 CDRs of the customer's, newest first). The static reference is nginx serving a "
           "file of the dashboard's size. The ratio rows: requests/s and p95 against the static file.")


if __name__ == "__main__":
    main()
