"""Channel limits across several registrars (R5 with scale-out): the calls in progress in one table, claimed and
released by whichever registrar carries them, under one lock, so that N+1 is refused wherever the N calls are.

A single registrar keeps counting in its own memory (dialog profiles); with two or more, Kamailio calls
claim_channel() when a call starts and release_channel() when its dialog ends or fails, and a registrar that starts
releases the claims it held before (its calls' dialogs are gone with its memory).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

#: 0: claimed; 1: the SIP profile's channels are all in use; 2: the platform's limit is reached. Claims older than
#: the longest call a registrar allows no longer count (a registrar that died for good cannot hold channels forever).
CLAIM = r"""
CREATE OR REPLACE FUNCTION claim_channel(call text, profile integer, registrar integer, channels integer,
                                         platform integer, max_seconds integer) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    live timestamptz := now() - make_interval(secs => max_seconds);
BEGIN
    -- One claim at a time across the cluster (held to the end of this statement's transaction): no race admits N+1.
    PERFORM pg_advisory_xact_lock(2026120301);
    IF (SELECT count(*) FROM active_calls WHERE sip_profile_id = profile AND started > live) >= channels THEN
        RETURN 1;
    END IF;
    IF (SELECT count(*) FROM active_calls WHERE started > live) >= platform THEN
        RETURN 2;
    END IF;
    INSERT INTO active_calls (call_key, sip_profile_id, registrar) VALUES (call, profile, registrar)
        ON CONFLICT (call_key) DO NOTHING;
    RETURN 0;
END $$;

CREATE OR REPLACE FUNCTION release_channel(call text) RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    WITH gone AS (DELETE FROM active_calls WHERE call_key = call RETURNING 1) SELECT count(*)::integer FROM gone
$$;

CREATE OR REPLACE FUNCTION release_registrar_channels(node integer) RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public AS $$
    WITH gone AS (DELETE FROM active_calls WHERE registrar = node RETURNING 1) SELECT count(*)::integer FROM gone
$$;
"""


def upgrade() -> None:
    op.create_table(
        "active_calls",
        sa.Column("call_key", sa.Text, primary_key=True),
        sa.Column("sip_profile_id", sa.Integer, nullable=False),
        sa.Column("registrar", sa.Integer, nullable=False),
        sa.Column("started", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
    )
    op.create_index("active_calls_profile", "active_calls", ["sip_profile_id"])
    op.execute(CLAIM)


def downgrade() -> None:
    op.execute("DROP FUNCTION release_registrar_channels(integer)")
    op.execute("DROP FUNCTION release_channel(text)")
    op.execute("DROP FUNCTION claim_channel(text, integer, integer, integer, integer, integer)")
    op.drop_table("active_calls")
