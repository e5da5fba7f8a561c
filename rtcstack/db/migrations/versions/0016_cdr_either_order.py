"""A call's CDR is complete whichever of its two accounting rows commits first (issue 21's benchmark found it).

The INVITE's row (written when the 200 passes) and the BYE's row come from two registrar processes. When the BYE
follows the 200 within milliseconds, its row can commit first: its UPDATE found no CDR, the INVITE's row then made
one with no end, and the call was never charged. kamailio_reference counted it: 0.73 and 0.91 CDRs completed per BYE
in two runs of 2,000 calls at 200/s (calls with no hold). Now both rows take a transaction-level advisory lock on the
call's Call-ID first, so the pair runs one after the other; the INVITE's row looks for the BYE's (acc_callid_idx) and,
when it is there, ends and charges the CDR it makes.

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"

# The CDR an INVITE's row makes (answered: from acc; not: from missed_calls), as 0006 wrote it.
_INSERT_CDR = """INSERT INTO cdrs (call_id, customer_id, account_id, caller, callee, destination, start_time,
                          answer_time, end_time, sip_code, sip_reason, price_per_minute)
        VALUES (NEW.callid, CAST(NULLIF(NEW.customer_id, '') AS INTEGER),
                CAST(NULLIF(NEW.account_id, '') AS INTEGER), COALESCE(NEW.src_user, ''),
                COALESCE(NEW.dst_user, ''), NULLIF(NEW.destination, ''),
                COALESCE(CAST(NULLIF(NEW.start_time, '') AS timestamptz), CAST(NEW.time AS timestamptz)),
                CASE WHEN answered THEN CAST(NEW.time AS timestamptz) END,
                CASE WHEN NOT answered THEN CAST(NEW.time AS timestamptz) END,
                CAST(NEW.sip_code AS INTEGER), NEW.sip_reason,
                CAST(NULLIF(NEW.price_units, '') AS INTEGER) / 10000.0)
        ON CONFLICT (call_id) DO NOTHING"""
_END = """GREATEST(0, CAST(ceil(EXTRACT(EPOCH FROM CAST({time} AS timestamptz) - answer_time)) AS INTEGER))"""

CDR_FROM_ACCOUNTING = f"""
    CREATE OR REPLACE FUNCTION cdr_from_accounting() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public AS $$
    DECLARE
        answered boolean := TG_TABLE_NAME = 'acc' AND NEW.method = 'INVITE';
        cdr integer;
        bye_time acc.time%TYPE;
    BEGIN
        IF TG_TABLE_NAME = 'acc' AND NEW.method IN ('INVITE', 'BYE') THEN
            -- the call's two rows, one after the other: the second sees the first committed
            PERFORM pg_advisory_xact_lock(hashtext(NEW.callid));
        END IF;
        IF TG_TABLE_NAME = 'acc' AND NEW.method = 'BYE' THEN
            UPDATE cdrs SET end_time = CAST(NEW.time AS timestamptz), duration_seconds = {_END.format(time="NEW.time")}
            WHERE call_id = NEW.callid AND end_time IS NULL
            RETURNING id INTO cdr;
            IF cdr IS NOT NULL THEN
                PERFORM charge_call(cdr);
            END IF;
            RETURN NEW;  -- no CDR yet: the INVITE's row, when it comes, finds this one
        END IF;
        IF NEW.method <> 'INVITE' THEN
            RETURN NEW;
        END IF;
{_INSERT_CDR}
        RETURNING id INTO cdr;
        IF answered AND cdr IS NOT NULL THEN
            SELECT a.time INTO bye_time FROM acc a WHERE a.callid = NEW.callid AND a.method = 'BYE'
            ORDER BY a.id LIMIT 1;
            IF FOUND THEN  -- the BYE's row committed first
                UPDATE cdrs SET end_time = CAST(bye_time AS timestamptz),
                       duration_seconds = {_END.format(time="bye_time")}
                WHERE id = cdr;
                PERFORM charge_call(cdr);
            END IF;
        END IF;
        RETURN NEW;
    END $$"""

# 0006's version, for downgrade.
_PREVIOUS = f"""
    CREATE OR REPLACE FUNCTION cdr_from_accounting() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public AS $$
    DECLARE
        answered boolean := TG_TABLE_NAME = 'acc' AND NEW.method = 'INVITE';
        ended integer;
    BEGIN
        IF TG_TABLE_NAME = 'acc' AND NEW.method = 'BYE' THEN
            UPDATE cdrs SET end_time = CAST(NEW.time AS timestamptz), duration_seconds = {_END.format(time="NEW.time")}
            WHERE call_id = NEW.callid AND end_time IS NULL
            RETURNING id INTO ended;
            IF ended IS NOT NULL THEN
                PERFORM charge_call(ended);
            END IF;
            RETURN NEW;
        END IF;
        IF NEW.method <> 'INVITE' THEN
            RETURN NEW;
        END IF;
{_INSERT_CDR};
        RETURN NEW;
    END $$"""


def upgrade() -> None:
    op.execute(CDR_FROM_ACCOUNTING)


def downgrade() -> None:
    op.execute(_PREVIOUS)
