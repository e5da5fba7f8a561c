"""Raw accounting rows go after billing.accounting_days (issue 21 noticed acc growing without end: 335k rows, 71 MB
in one benchmark session, each row indexed by Call-ID for every call's INVITE).

acc and missed_calls are what the registrar writes; the cdrs trigger makes every CDR from them at once, and reads
acc back only for a call's other row (0016), seconds to hours later. `prune_accounting()` deletes the rows older than
billing_rules.accounting_days, oldest first in id ranges (the primary key; ids grow with time), at most
`most` rows of each table per call so one run never holds a long transaction; the renewal timer calls it.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"

_PRUNE = """
    CREATE FUNCTION prune_accounting(most integer DEFAULT 100000) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public AS $$
    DECLARE
        cutoff timestamp := localtimestamp - make_interval(days => (SELECT accounting_days FROM billing_rules));
        batch constant integer := 5000;
        tbl text;
        low integer;
        gone bigint;
        done bigint;
        kept boolean;
        total bigint := 0;
    BEGIN
        IF cutoff IS NULL THEN  -- no billing rules yet: keep everything
            RETURN 0;
        END IF;
        FOREACH tbl IN ARRAY ARRAY['acc', 'missed_calls'] LOOP
            done := 0;
            LOOP  -- oldest ids first; a range that keeps a row has reached the rows to keep
                EXECUTE format('SELECT min(id) FROM %I', tbl) INTO low;
                EXIT WHEN low IS NULL OR done >= most;
                EXECUTE format('DELETE FROM %I WHERE id >= $1 AND id < $1 + $2 AND time < $3', tbl)
                    USING low, batch, cutoff;
                GET DIAGNOSTICS gone = ROW_COUNT;
                done := done + gone;
                EXIT WHEN gone = 0;
                EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE id >= $1 AND id < $1 + $2)', tbl)
                    INTO kept USING low, batch;
                EXIT WHEN kept;
            END LOOP;
            total := total + done;
        END LOOP;
        RETURN total;
    END $$"""


def upgrade() -> None:
    op.add_column("billing_rules", sa.Column("accounting_days", sa.Integer(), server_default="30", nullable=False))
    op.create_check_constraint("billing_rules_accounting_days", "billing_rules", "accounting_days >= 1")
    op.execute(_PRUNE)
    op.execute("REVOKE EXECUTE ON FUNCTION prune_accounting(integer) FROM PUBLIC")  # the portal's login is granted it


def downgrade() -> None:
    op.execute("DROP FUNCTION prune_accounting(integer)")
    op.drop_constraint("billing_rules_accounting_days", "billing_rules")
    op.drop_column("billing_rules", "accounting_days")
