"""CDRs from accounting rows written in batches (issue 21: the registrar's cost per call).

Each registrar now queues a call's two accounting rows (its answer, its end) in memory and writes what is queued every
100 ms as one multi-row INSERT (kamailio.cfg, route[ACC_FLUSH]), instead of one INSERT and one commit per row. The
trigger that assembles CDRs runs once per statement on the rows it added (a transition table), set-based: the
answers make CDRs, then every CDR of a call with an end among the rows (or already in acc: an end written before its
answer, 0016) is ended and charged. A single-row INSERT (the fallback when the queue is full, or by hand) gives the
same result as before. missed_calls keeps its row trigger (0006/0016's cdr_from_accounting()).

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"

# Kamailio sends each text of a queued row as hex (nothing a phone sends can break out of the statement), and the
# statement reads it back with acc_text(): UTF-8 text as it was, cut to the column's width; bytes that are no text
# (bad UTF-8, a NUL) as 0x and their hex, never an error, which would lose every row of the statement.
ACC_TEXT = """
    CREATE FUNCTION acc_text_checked(hex text, width integer) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN
        RETURN left(convert_from(decode(hex, 'hex'), 'UTF8'), width);
    EXCEPTION WHEN others THEN
        RETURN left('0x' || hex, width);
    END $$;
    CREATE FUNCTION acc_text(hex text, width integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE WHEN hex ~ '^([1-7][0-9a-fA-F]|0[1-9a-fA-F])*$'  -- ASCII without NUL: the usual case, no block
                    THEN left(convert_from(decode(hex, 'hex'), 'UTF8'), width)
                    ELSE acc_text_checked(hex, width) END
    $$"""

CDRS_FROM_ACC = """
    CREATE FUNCTION cdrs_from_acc() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public AS $$
    DECLARE
        ended integer[];
    BEGIN
        -- A call's rows one transaction after another (its answer and its end may come in two statements, from
        -- the queue and the fallback), in one order of the lock keys so two statements never wait on each other.
        PERFORM pg_advisory_xact_lock(k) FROM (SELECT DISTINCT hashtext(callid) AS k FROM added
                                               WHERE method IN ('INVITE', 'BYE') ORDER BY 1) keys;
        INSERT INTO cdrs (call_id, customer_id, account_id, caller, callee, destination, start_time, answer_time,
                          sip_code, sip_reason, price_per_minute)
        SELECT n.callid, CAST(NULLIF(n.customer_id, '') AS INTEGER), CAST(NULLIF(n.account_id, '') AS INTEGER),
               COALESCE(n.src_user, ''), COALESCE(n.dst_user, ''), NULLIF(n.destination, ''),
               COALESCE(CAST(NULLIF(n.start_time, '') AS timestamptz), CAST(n.time AS timestamptz)),
               CAST(n.time AS timestamptz), CAST(n.sip_code AS INTEGER), n.sip_reason,
               CAST(NULLIF(n.price_units, '') AS INTEGER) / 10000.0
        FROM added n WHERE n.method = 'INVITE' ORDER BY n.id
        ON CONFLICT (call_id) DO NOTHING;
        -- Every call of these rows that has an end (its first BYE row, in this statement or before) and a CDR not
        -- yet ended: ended now, then charged (charge_call() reads the ended row: a statement of its own).
        WITH byes AS (
            SELECT DISTINCT ON (a.callid) a.callid, a.time FROM acc a
            WHERE a.method = 'BYE' AND a.callid IN (SELECT callid FROM added)
            ORDER BY a.callid, a.id),
        done AS (
            UPDATE cdrs d SET end_time = CAST(b.time AS timestamptz),
                   duration_seconds = GREATEST(0, CAST(ceil(EXTRACT(EPOCH FROM CAST(b.time AS timestamptz)
                                                                      - d.answer_time)) AS INTEGER))
            FROM byes b WHERE d.call_id = b.callid AND d.end_time IS NULL
            RETURNING d.id)
        SELECT array_agg(id ORDER BY id) INTO ended FROM done;
        PERFORM charge_call(id) FROM unnest(ended) AS id;
        RETURN NULL;
    END $$"""


def upgrade() -> None:
    op.execute(ACC_TEXT)
    op.execute("DROP TRIGGER acc_to_cdrs ON acc")
    op.execute(CDRS_FROM_ACC)
    op.execute("CREATE TRIGGER acc_to_cdrs AFTER INSERT ON acc REFERENCING NEW TABLE AS added "
               "FOR EACH STATEMENT EXECUTE FUNCTION cdrs_from_acc()")


def downgrade() -> None:
    op.execute("DROP TRIGGER acc_to_cdrs ON acc")
    op.execute("DROP FUNCTION cdrs_from_acc()")
    op.execute("DROP FUNCTION acc_text(text, integer)")
    op.execute("DROP FUNCTION acc_text_checked(text, integer)")
    op.execute("CREATE TRIGGER acc_to_cdrs AFTER INSERT ON acc FOR EACH ROW EXECUTE FUNCTION cdr_from_accounting()")
