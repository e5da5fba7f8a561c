"""What a call reads kept in each registrar's memory, checked against one number per call (issue 21: the registrar's
cost per call).

`call_start()` (0014) cost the database about 1 ms of CPU per call under load: the caller's row of `sip_subscribers`
(its terms and channels) and the callee's plan (selective routing, ring groups, scope). A registrar now keeps its
answer per caller and dialled name, and asks the database for one number per call instead: `call_generation`, which
every change to what `call_start()` reads raises, from any writer (the CLI, the portal, billing, an operator's psql).
A call whose kept answer carries the current generation, and whose time has not run out, uses it; any other asks
`call_start_row()`, which answers with the generation it read in the same snapshot. So a change is followed by the
very next call, as before; there is no window in which a registrar applies an old answer.

What changes with time and no write: a channel term starting or ending (`active_terms`), and the callee's selective
routing rules turning on or off (its hours and days, in its customer's time zone). `call_start_row()` gives each
answer a time of validity, the first such moment after now (at most an hour ahead), and the registrar reads it again
from then.

Raised once per transaction, at its commit (a deferred constraint trigger): the row is locked only while the writer
commits, so two writers never wait for each other on it while holding other rows (no new deadlock). A customer's
balance changes with every charged call; only a change of whether it can pay (`balance + credit_limit > 0`), or of a
column a call reads, raises the generation.

Revision ID: 0019
Revises: 0018
"""

from alembic import op

revision = "0019"
down_revision = "0018"

#: Every table `call_start()` reads, through `sip_subscribers`, `subscriber_terms()`, `account_limits()`,
#: `active_terms`, `local_call()`, `dialled_local()`, `call_in_scope()`, `account_circles`, `ring_plan()` and
#: `number_routes`; `customers` separately (its balance). tests/integration/test_registrar.py checks the list
#: against those bodies.
TABLES = ("sip_accounts", "channel_subscriptions", "routing_rules", "numbers", "ring_groups", "ring_group_members",
          "devices", "contacts", "video_phones")

#: The customer's columns a call reads (enabled, international, max_rate, selective_routing, time_zone,
#: voicemail_service) and whether it can pay.
CUSTOMER_CHANGED = ("OLD.enabled IS DISTINCT FROM NEW.enabled OR OLD.international IS DISTINCT FROM NEW.international "
                    "OR OLD.max_rate IS DISTINCT FROM NEW.max_rate "
                    "OR OLD.selective_routing IS DISTINCT FROM NEW.selective_routing "
                    "OR OLD.time_zone IS DISTINCT FROM NEW.time_zone "
                    "OR OLD.voicemail_service IS DISTINCT FROM NEW.voicemail_service "
                    "OR (OLD.balance + OLD.credit_limit > 0) IS DISTINCT FROM (NEW.balance + NEW.credit_limit > 0)")

NOTE = r"""
CREATE FUNCTION note_call_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    -- Once per transaction: the setting is local to it (and to a savepoint rolled back with it).
    IF current_setting('rtcstack.call_change_noted', true) = 'yes' THEN
        RETURN NULL;
    END IF;
    PERFORM set_config('rtcstack.call_change_noted', 'yes', true);
    UPDATE call_generation SET generation = generation + 1;
    RETURN NULL;
END $$
"""

#: When the answer for this caller and dialled name can change with no write: the next start or end of one of the
#: caller's channel terms (active_terms: a renewing term is kept a day past its end), the next hour or day boundary
#: of the callee's enabled routing rules in its customer's time zone (each local boundary read back through the zone,
#: so a daylight-saving change is no boundary missed), and at most an hour from now.
VALID_UNTIL = r"""
CREATE FUNCTION call_start_until(caller text, dialled text) RETURNS timestamptz
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    until timestamptz := now() + interval '1 hour';
    zone text;
    local_now timestamp;
    boundary time;
    next_local timestamp;
BEGIN
    SELECT LEAST(until, min(e)) INTO until FROM (
        SELECT unnest(ARRAY[s.starts_at, s.ends_at, s.ends_at + interval '1 day']) AS e
        FROM channel_subscriptions s JOIN sip_accounts a ON a.profile_id = s.profile_id
        WHERE a.username = caller) t
    WHERE e > now();
    SELECT c.time_zone INTO zone FROM sip_accounts a JOIN customers c ON c.id = a.customer_id
    WHERE a.username = dialled AND c.selective_routing
      AND EXISTS (SELECT 1 FROM routing_rules r WHERE r.account_id = a.id AND r.enabled);
    IF FOUND THEN
        local_now := now() AT TIME ZONE zone;
        FOR boundary IN
            SELECT DISTINCT b FROM routing_rules r JOIN sip_accounts a ON a.id = r.account_id,
                   unnest(ARRAY[r.starts_at, r.ends_at, time '00:00']) AS b
            WHERE a.username = dialled AND r.enabled
        LOOP
            next_local := date_trunc('day', local_now) + boundary;
            IF next_local <= local_now THEN
                next_local := next_local + interval '1 day';
            END IF;
            until := LEAST(until, next_local AT TIME ZONE zone);
        END LOOP;
    END IF;
    RETURN until;
END $$
"""

#: call_start()'s answer as one line for a registrar to keep: generation|valid until (Unix seconds)|then
#: call_start()'s columns in order, NULL as empty, the display name as hex (any text may be in it).
ROW = r"""
CREATE FUNCTION call_start_row(caller text, dialled text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    s record;
BEGIN
    SELECT * INTO s FROM call_start(caller, dialled);
    RETURN concat_ws('|', (SELECT generation FROM call_generation),
                     floor(extract(epoch FROM call_start_until(caller, dialled)))::bigint,
                     coalesce(s.ha1, ''), coalesce(s.account_id::text, ''), coalesce(s.customer_id::text, ''),
                     coalesce(s.customer_international::text, ''), coalesce(s.account_international::text, ''),
                     coalesce(s.max_rate_units::text, ''), coalesce(s.channels::text, ''),
                     coalesce(s.profile_id::text, ''), coalesce(s.funded::text, ''), coalesce(s.lapsed::text, ''),
                     coalesce(s.local::text, ''), coalesce(s.in_scope::text, ''), coalesce(s.plan, ''),
                     coalesce(encode(convert_to(s.display, 'UTF8'), 'hex'), ''), coalesce(s.steps::text, ''));
END $$
"""


def upgrade() -> None:
    op.execute("CREATE TABLE call_generation (one boolean PRIMARY KEY DEFAULT true CHECK (one), "
               "generation bigint NOT NULL DEFAULT 1)")
    op.execute("INSERT INTO call_generation DEFAULT VALUES")
    op.execute(NOTE)
    for table in TABLES:
        op.execute(f"CREATE CONSTRAINT TRIGGER {table}_call_change AFTER INSERT OR UPDATE OR DELETE ON {table} "
                   "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION note_call_change()")
    op.execute("CREATE CONSTRAINT TRIGGER customers_call_change AFTER INSERT OR DELETE ON customers "
               "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION note_call_change()")
    op.execute("CREATE CONSTRAINT TRIGGER customers_call_terms_change AFTER UPDATE ON customers "
               f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ({CUSTOMER_CHANGED}) "
               "EXECUTE FUNCTION note_call_change()")
    op.execute(VALID_UNTIL)
    op.execute(ROW)
    # Like call_start(): any account's HA1, read as the owner; the registrars' login only (roles/registrar.py).
    op.execute("REVOKE EXECUTE ON FUNCTION call_start_row(text, text) FROM PUBLIC")
    op.execute("REVOKE EXECUTE ON FUNCTION call_start_until(text, text) FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP FUNCTION call_start_row(text, text)")
    op.execute("DROP FUNCTION call_start_until(text, text)")
    op.execute("DROP TRIGGER customers_call_terms_change ON customers")
    op.execute("DROP TRIGGER customers_call_change ON customers")
    for table in reversed(TABLES):
        op.execute(f"DROP TRIGGER {table}_call_change ON {table}")
    op.execute("DROP FUNCTION note_call_change()")
    op.execute("DROP TABLE call_generation")
