"""One index on cdrs.customer_id, not two (issue 21: the registrar's cost per call).

Every call's CDR (the accounting trigger's insert) updated five indexes. `ix_cdrs_customer_id` (0001's model) is
covered by `cdrs_customer_start` (0004: customer_id, start_time DESC), whose first column serves every lookup it
served: a customer's CDRs (the portal's billing history reads them newest first through the pair) and the foreign
key's ON DELETE SET NULL when a customer is deleted.

Revision ID: 0015
Revises: 0014
"""

from alembic import op

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_cdrs_customer_id")


def downgrade() -> None:
    op.execute("CREATE INDEX ix_cdrs_customer_id ON cdrs (customer_id)")
