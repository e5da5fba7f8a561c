"""The plan PostgreSQL runs each of the registrar's statements with (issue 21: "make each remaining query use an
index, show EXPLAIN for each"), read from the database's own log. For a short while the registrar's logins run with
auto_explain logging the plan of every statement, the ones inside functions and triggers too, with sequential scans
off: a table no index can serve still shows a Seq Scan, whatever the tables' sizes (the lab's tables are small, and
there the planner rightly prefers reading them whole). The registrars restart into those settings and back (their
connections are opened at start); the logins' own settings (kamailio_location's synchronous_commit) stay as they were.

Used by benchmarks/registrar_plans.py (the table) and by the registrar's integration tests (no table read whole)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from benchmarks._load import database_sql

#: The registrar's logins (roles/registrar.py: LOGIN, LOCATION_LOGIN).
LOGINS = ("kamailio", "kamailio_location")
#: What those logins run with while their plans are read (set on the roles, so every new connection takes them).
EXPLAINING = {"session_preload_libraries": "'auto_explain'", "auto_explain.log_min_duration": "0",
              "auto_explain.log_nested_statements": "on", "enable_seqscan": "off",
              # (sequential scans off prices a plan past JIT's threshold: compiling it would add 100 ms a statement)
              "jit": "off"}
#: Tables of one row by design, read whole: call_generation (migration 0019: CHECK (one)).
ONE_ROW = frozenset({"call_generation"})
#: Debian's log of the cluster the database role configures (templates/database/etc/postgresql/15/main).
LOG = "/var/log/postgresql/postgresql-15-main.log"

_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[\d+\] ", re.M)
_PLAN = re.compile(r"\] (\S+)@\S+ .*?LOG:  duration: [\d.]+ ms  plan:\n\tQuery Text: (.*?)\n\t(?=[A-Z])", re.S)
# (a Bitmap Index Scan names the index, under the Bitmap Heap Scan of its table)
_SCAN = re.compile(r"\b(Seq Scan|(?<!Bitmap )Index Scan|Index Only Scan|Bitmap Heap Scan)(?: Backward)?(?: using (\S+))? "
                   r"on (\S+)")


@dataclass
class Statement:
    """One statement as it reads its tables: the table's name -> how (`Seq Scan`, `Index Scan using x`...)."""

    login: str
    text: str
    reads: dict[str, set[str]] = field(default_factory=dict)

    def read_whole(self) -> list[str]:
        """The tables this statement reads with no index (one-row tables apart)."""
        return sorted(t for t, how in self.reads.items() if "Seq Scan" in how and t not in ONE_ROW)


def shape(text: str) -> str:
    """A statement's text with its values taken out (the calls' names and numbers differ, the statement not)."""
    text = re.sub(r"'(?:[^']|'')*'", "'?'", " ".join(text.split()))
    return re.sub(r"(?<![\w$.])-?\d+(?:\.\d+)?\b", "N", text)


def parse(log: str) -> dict[str, Statement]:
    """Every statement auto_explain logged in `log` (text format), by its shape, with how it read each table."""
    statements: dict[str, Statement] = {}
    starts = [m.start() for m in _ENTRY.finditer(log)] + [len(log)]
    for begin, end in zip(starts, starts[1:]):
        entry = log[begin:end]
        found = _PLAN.search(entry)
        if not found:
            continue
        text = shape(found.group(2))
        statement = statements.setdefault(text, Statement(found.group(1), text))
        for node, index, table in _SCAN.findall(entry[found.end() - 1:]):
            statement.reads.setdefault(table, set()).add(f"{node} using {index}" if index else node)
    return statements


def _restart_registrars(lab) -> None:
    for host in lab.deployment.hosts_with("registrar"):
        lab.on_host(host.name, "systemctl restart kamailio && sleep 1 && systemctl is-active kamailio")


#: An account change noted as a change to who may register (migration 0013's trigger, its pruning included), made
#: and rolled back in one transaction by the database's superuser with the same settings.
NOTE_A_CHANGE = ("BEGIN;\nLOAD 'auto_explain';\n"
                 + "".join(f"SET LOCAL {k} = {v};\n" for k, v in EXPLAINING.items() if k != "session_preload_libraries")
                 + "UPDATE sip_accounts SET enabled = enabled WHERE id = (SELECT min(id) FROM sip_accounts);\n"
                 "ROLLBACK;")


@contextmanager
def explaining(lab) -> Iterator[Callable[[], dict[str, Statement]]]:
    """The registrars restarted with their logins explaining every statement; yields what was logged so far, parsed
    (call it after the traffic). `lab` has `deployment` and `on_host(name, command)` (benchmarks' Lab, the tests'
    SipLab). On exit the settings are taken back and the registrars restarted again, whatever happened."""
    database = lab.deployment.hosts_with("database")[0].name
    start = int(lab.on_host(database, f"stat -c %s {LOG}").strip())

    def alter(verb: str) -> None:
        database_sql(lab, "\n".join(f"ALTER ROLE {login} SET {k} = {v};" if verb == "SET"
                                    else f"ALTER ROLE {login} RESET {k};"
                                    for login in LOGINS for k, v in EXPLAINING.items()))

    try:  # (a SET refused half-way is taken back too: RESET of a setting a role does not have is no error)
        alter("SET")
        _restart_registrars(lab)

        def logged() -> dict[str, Statement]:
            database_sql(lab, NOTE_A_CHANGE)
            return parse(lab.on_host(database, f"tail -c +{start + 1} {LOG}"))
        yield logged
    finally:
        alter("RESET")
        _restart_registrars(lab)
