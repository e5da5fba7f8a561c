"""registrant_changes read through its index (issue 21: every statement the registrar runs uses an index).

0013 compared `changed_at` with `clock_timestamp()`, which is VOLATILE: PostgreSQL may not put a volatile value in
an index condition, so both statements that read the table by time scanned all of it, past its index on
`changed_at`:
- each registrar's read of the last 30 s of changes, once a second (kamailio.cfg, route[REGISTRANT_CHANGES]);
- the pruning of rows older than a day, on every account a change notes (a password import of N accounts scanned
  the table N times, and the table holds a day of changes).
Both now compare with `statement_timestamp()` (STABLE: the start of the statement, which for the registrar's
autocommitted read and for a change's trigger is within milliseconds of the clock's time), and the index serves
them (`benchmarks/registrar_plans.py` prints the plan of every statement the registrar runs, sequential scans off).

Revision ID: 0021
Revises: 0020
"""

from importlib import import_module

from alembic import op

revision = "0021"
down_revision = "0020"

_BEFORE = import_module("rtcstack.db.migrations.versions.0013_registrant_changes").NOTE


def note(clock: str) -> str:
    """note_registrant_change() pruning by `clock`, replacing the function in place."""
    text = _BEFORE.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    return text.replace("changed_at < clock_timestamp() - interval '1 day'",
                        f"changed_at < {clock}() - interval '1 day'", 1)


def upgrade() -> None:
    op.execute(note("statement_timestamp"))


def downgrade() -> None:
    op.execute(note("clock_timestamp"))
