"""The credentials a REGISTER is checked against, apart from a call's (issue 21: the registrar's cost per
REGISTER).

auth_db asks one table for the password and, in the same row, every column `load_credentials` names. A call needs
those columns (the account's limits, rate cap, international switches, balance and lapsed terms, which
`sip_subscribers` computes in `subscriber_terms()` per row); a REGISTER needs only the password of an enabled
account of an enabled customer. `sip_registrants` is that: the same rows as `sip_subscribers` (same filter), the
password columns, and the call's columns as NULLs (auth_db sets no AVP from a NULL; the REGISTER route reads none
of them). The customer's `enabled` is a scalar subquery, not a join, so the planner has no join order to weigh:
under EXPLAIN on the lab, warm, about 35 µs of planning and 15 µs of execution, against 36-99 and 65-77 µs
through `sip_subscribers` and 88-134 and 23-27 µs as a join (which the first run of the benchmark measured:
105 µs of planning per REGISTER, since auth_db sends each query as text).

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"

#: What auth_db reads for a REGISTER (the columns are those of registrar's load_credentials, in any order).
REGISTRANTS = """
    SELECT a.username, a.ha1, a.ha1_sha256,
           CAST(NULL AS integer) AS account_id, CAST(NULL AS integer) AS customer_id,
           CAST(NULL AS integer) AS customer_international, CAST(NULL AS integer) AS account_international,
           CAST(NULL AS integer) AS max_rate_units, CAST(NULL AS integer) AS channels,
           CAST(NULL AS integer) AS profile_id, CAST(NULL AS integer) AS funded, CAST(NULL AS integer) AS lapsed
    FROM sip_accounts a
    WHERE a.enabled AND (SELECT c.enabled FROM customers c WHERE c.id = a.customer_id)
"""


def upgrade() -> None:
    op.execute(f"CREATE VIEW sip_registrants AS {REGISTRANTS}")
    # auth_db checks each table's version at start (the subscriber table's, 7), views included.
    op.execute("INSERT INTO version (table_name, table_version) VALUES ('sip_registrants', 7)")


def downgrade() -> None:
    op.execute("DELETE FROM version WHERE table_name = 'sip_registrants'")
    op.execute("DROP VIEW sip_registrants")
