"""Every statement the deployed registrar runs, with the plan PostgreSQL runs it with (issue 21: "make each remaining
query use an index, show EXPLAIN for each"): registrations and calls from sipp against registrars restarted with
their logins explaining every statement, nested ones included, sequential scans off (benchmarks/_plans.py), then one
account change noted (the trigger's statements). A table read with no index is marked; a one-row table read whole
is by design (call_generation).

Usage: python benchmarks/registrar_plans.py [INVENTORY] [--calls 20]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._load import command_line, sipp, sipp_callee  # noqa: E402
from benchmarks._plans import ONE_ROW, Statement, explaining  # noqa: E402
from benchmarks._report import report  # noqa: E402
from rtcstack.protocols.sip.sipp import authentication as sipp_auth  # noqa: E402


def main() -> None:
    args, lab = command_line(__doc__, calls=20)
    registering = lab.accounts("sip_register", args.calls)
    (caller, caller_pw), callee = lab.accounts("sip_calls", 2)
    with explaining(lab) as plans:
        sipp(lab, "register", [f"{u};{sipp_auth(u, p)};{lab.domain}" for u, p in registering],
             "-r", "10", "-m", str(args.calls))
        with sipp_callee(lab, callee):
            sipp(lab, "call_signalling", [f"{caller};{sipp_auth(caller, caller_pw)};{lab.domain};{callee[0]}"],
                 "-r", "10", "-m", str(args.calls), "-l", "50")
        time.sleep(2)  # the accounting flush (every 100 ms) and a read of the registrant changes (every second)
        statements = plans()
    # (one row per statement as printed: accounting's batches differ in their number of rows only)
    shown: dict[tuple[str, str], Statement] = {}
    for statement in statements.values():
        row = shown.setdefault((statement.login, statement.text[:120]), Statement(statement.login, statement.text))
        for table, how in statement.reads.items():
            row.reads.setdefault(table, set()).update(how)
    rows, whole = [], 0
    for statement in sorted(shown.values(), key=lambda s: (s.login, s.text)):
        reads = "; ".join(f"{table}: {', '.join(sorted(how))}" for table, how in sorted(statement.reads.items()))
        missing = statement.read_whole()
        whole += bool(missing)
        verdict = (f"**read whole: {', '.join(missing)}**" if missing
                   else "one-row table, by design" if statement.reads and set(statement.reads) <= ONE_ROW
                   else "through indexes" if statement.reads else "reads no table")
        rows.append([statement.login, "`" + statement.text[:120].replace("|", "/") + "`", reads or "-", verdict])
    report(f"Every statement the registrar runs, as PostgreSQL plans it with sequential scans off, {args.inventory}",
           ["login", "statement (values taken out)", "tables read, and how", "read"], rows,
           f"auto_explain on the registrar's logins (kamailio, kamailio_location; statements inside functions and "
           f"triggers included), sequential scans and JIT off, over {args.calls} REGISTERs of fresh phones and "
           f"{args.calls} calls answered and hung up from sipp against registrars restarted into those settings, "
           f"then one account change noted (migration 0013's trigger, as the database's superuser, rolled back). "
           f"Sequential scans off: a plan still holding a Seq Scan means no index can serve it, whatever the "
           f"tables' sizes. Statements that read a table whole: {whole}.")
    sys.exit(1 if whole else 0)


if __name__ == "__main__":
    main()
