"""A call's credentials and, for a call to one of our accounts, its plan, in one round trip (issue 21: the
registrar's cost per call).

An authorised INVITE cost the database two queries before this: auth_db's text query over `sip_subscribers` (the
password, the caller's limits and money; PostgreSQL planned the view every time, 58 µs of planning against 75 µs
of execution at -r 200 on the lab) and `local_call()` (0009). `call_start()` answers both: the caller's row of
`sip_subscribers` (no row: NULLs, the registrar answers as for an unknown account) and, when there is one,
`local_call()` for the number dialled. It is PL/pgSQL, so the view's plan is made once per connection, and the
registrar checks the digest itself with the HA1 it returns (kamailio.cfg, route[CALLER]).

`local_call()` therefore also runs for an INVITE whose password then proves wrong: a few reads, as often as the
registrar lets a source guess (registrar.auth_failures_before_ban, then its ban).

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"

CALL_START = r"""
CREATE FUNCTION call_start(caller text, dialled text,
    OUT ha1 text, OUT account_id integer, OUT customer_id integer, OUT customer_international integer,
    OUT account_international integer, OUT max_rate_units integer, OUT channels integer, OUT profile_id integer,
    OUT funded integer, OUT lapsed integer,
    OUT local integer, OUT in_scope integer, OUT plan text, OUT display text, OUT steps integer)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
BEGIN
    SELECT s.ha1, s.account_id, s.customer_id, s.customer_international, s.account_international,
           s.max_rate_units, s.channels, s.profile_id, s.funded, s.lapsed
    INTO ha1, account_id, customer_id, customer_international, account_international,
         max_rate_units, channels, profile_id, funded, lapsed
    FROM sip_subscribers s WHERE s.username = caller;
    IF FOUND THEN
        SELECT l.local, l.in_scope, l.plan, l.display, l.steps INTO local, in_scope, plan, display, steps
        FROM local_call(caller, dialled) l;
    END IF;
END $$
"""


def upgrade() -> None:
    op.execute(CALL_START)
    # It returns any account's HA1 and reads as its owner: the registrars' login only (roles/registrar.py grants it).
    op.execute("REVOKE EXECUTE ON FUNCTION call_start(text, text) FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP FUNCTION call_start(text, text)")
