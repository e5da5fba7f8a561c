"""The per-call functions as PL/pgSQL, so PostgreSQL plans them once per connection, and a credentials view that
is cheaper to plan (issue 21: the registrar's cost per REGISTER and per call).

Measured with pg_stat_statements (track = all, track_planning) over 2,000 calls between two accounts on the lab:
`call_in_scope()`, a SQL function with `SET search_path` (which keeps it from being inlined), was planned anew on
every call: 562 of its 577 µs were planning the two `account_circles` subqueries. `dialled_local()` asked the
credentials view, whose planning (its join and `account_limits()`) cost 141 of its 202 µs, for a question
that needs only the account's and its customer's `enabled`. As PL/pgSQL, each statement's plan is kept for the
session (Kamailio keeps its connections). Same arguments, same results.

`sip_subscribers`, which auth_db asks as plain text for every REGISTER and call, joined the customer and called
`account_limits()`: 115 µs of planning for 24 µs of execution (EXPLAIN ANALYZE on the lab, warm). The customer's
side moves into `subscriber_terms()`, one PL/pgSQL call per account row: 45 µs of planning. Same columns, same
rows (checked with EXCEPT both ways over every account of the lab when this was written; the limits, rate caps,
international switches, balance and lapsed terms it carries are the behaviours tests/integration/test_money.py and
test_registrar.py call through).

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"

IN_SCOPE = r"""
CREATE OR REPLACE FUNCTION call_in_scope(caller text, callee text) RETURNS integer
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
BEGIN
    -- L4: a call that involves a device account stays inside the device's circle; other accounts are not scoped.
    IF NOT EXISTS (SELECT 1 FROM account_circles WHERE scoped AND username IN (caller, callee)) THEN
        RETURN 1;
    END IF;
    IF EXISTS (SELECT 1 FROM account_circles x JOIN account_circles y USING (video_phone_id)
               WHERE x.username = caller AND y.username = callee) THEN
        RETURN 1;
    END IF;
    RETURN 0;
END $$
"""

#: An enabled account of an enabled customer (what sip_subscribers holds), or a ring group.
LOCAL = r"""
CREATE OR REPLACE FUNCTION dialled_local(dialled text) RETURNS integer
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM sip_accounts a JOIN customers c ON c.id = a.customer_id
               WHERE a.username = dialled AND a.enabled AND c.enabled)
       OR EXISTS (SELECT 1 FROM ring_groups WHERE name = dialled) THEN
        RETURN 1;
    END IF;
    RETURN 0;
END $$
"""

#: What the credentials view takes from the account's customer and its SIP profile.
TERMS = r"""
CREATE OR REPLACE FUNCTION subscriber_terms(customer integer, profile integer, account_max_rate numeric,
    OUT customer_enabled boolean, OUT customer_international integer, OUT max_rate_units integer,
    OUT channels integer, OUT funded integer, OUT lapsed integer)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    c record;
BEGIN
    SELECT y.enabled, y.international, y.max_rate, y.balance + y.credit_limit > 0 AS funded INTO c
    FROM customers y WHERE y.id = customer;
    customer_enabled := c.enabled;
    customer_international := CASE WHEN c.international THEN 1 ELSE 0 END;
    max_rate_units := CAST(round(LEAST(COALESCE(account_max_rate, c.max_rate), COALESCE(c.max_rate, account_max_rate))
                                 * 10000) AS INTEGER);
    funded := CASE WHEN c.funded THEN 1 ELSE 0 END;
    SELECT l.channels, l.lapsed INTO channels, lapsed FROM account_limits(profile) l;
END $$
"""

SUBSCRIBERS = """
    SELECT a.username, a.ha1, a.ha1_sha256, a.id AS account_id, a.customer_id, t.customer_international,
           CASE WHEN a.international THEN 1 ELSE 0 END AS account_international,
           t.max_rate_units, t.channels, a.profile_id, t.funded, t.lapsed
    FROM sip_accounts a CROSS JOIN LATERAL subscriber_terms(a.customer_id, a.profile_id, a.max_rate) t
    WHERE a.enabled AND t.customer_enabled
"""



def upgrade() -> None:
    # Per-statement costs (the database role preloads the library): what the figures above were measured with.
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    op.execute(IN_SCOPE)  # (CREATE OR REPLACE keeps the grants; the language may change in place)
    op.execute(LOCAL)
    op.execute(TERMS)
    op.execute(f"CREATE OR REPLACE VIEW sip_subscribers AS {SUBSCRIBERS}")


def downgrade() -> None:
    from importlib import import_module

    links = import_module("rtcstack.db.migrations.versions.0002_links")
    features = import_module("rtcstack.db.migrations.versions.0007_call_features")
    limits = import_module("rtcstack.db.migrations.versions.0010_subscriber_limits")
    op.execute(f"CREATE OR REPLACE VIEW sip_subscribers AS {limits.SUBSCRIBERS}")
    op.execute("DROP FUNCTION subscriber_terms(integer, integer, numeric)")
    op.execute(f"CREATE OR REPLACE {links.IN_SCOPE}")
    op.execute(features.LOCAL)
