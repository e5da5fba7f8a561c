"""REGISTER's passwords kept in each registrar's memory, and every change to who may register noted for the
registrars to forget (issue 21: the registrar's cost per REGISTER).

Each authorised REGISTER cost the database two round trips: the password (auth_db's query) and the location
write-through. A registrar now keeps each account's HA1 in a hash table once read, so a phone's refreshes cost
the write-through only. Whoever changes who may register, and with what password, the database notes it here:
`registrant_changes` gets the username of every account whose password, username, `enabled` or customer
changes, every account that is deleted, and every account of a customer whose `enabled` changes, from any writer
(the CLI, the portal, billing, an operator's psql). Each registrar reads the changes of the last 30 s every second
and forgets those accounts; a registrar that cannot read them forgets every account (kamailio.cfg,
route[REGISTRANT_CHANGES]). Rows older than a day are pruned as changes are noted.

`registrant_ha1()` is what a registrar asks on a miss: one PL/pgSQL call, whose statement PostgreSQL plans once per
connection (auth_db's text query over `sip_registrants` was planned for every REGISTER: 55 of its 75 µs).

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"

HA1 = r"""
CREATE FUNCTION registrant_ha1(who text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- NULL: no enabled account of an enabled customer has that name.
    RETURN (SELECT ha1 FROM sip_registrants WHERE username = who);
END $$
"""

NOTE = r"""
CREATE FUNCTION note_registrant_change() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF TG_TABLE_NAME = 'customers' THEN
        INSERT INTO registrant_changes (username) SELECT username FROM sip_accounts WHERE customer_id = NEW.id;
    ELSE
        INSERT INTO registrant_changes (username) VALUES (OLD.username);
        IF TG_OP = 'UPDATE' AND NEW.username IS DISTINCT FROM OLD.username THEN
            INSERT INTO registrant_changes (username) VALUES (NEW.username);
        END IF;
    END IF;
    DELETE FROM registrant_changes WHERE changed_at < clock_timestamp() - interval '1 day';
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.execute("CREATE TABLE registrant_changes (id bigserial PRIMARY KEY, username text NOT NULL, "
               "changed_at timestamptz NOT NULL DEFAULT clock_timestamp())")
    op.execute("CREATE INDEX registrant_changes_changed_at ON registrant_changes (changed_at)")
    op.execute(HA1)
    op.execute(NOTE)
    # A new account needs no trigger: a registrar keeps only passwords it has read, and never the absence of one.
    op.execute("CREATE TRIGGER sip_accounts_registrant_change AFTER UPDATE OF username, ha1, enabled, customer_id "
               "OR DELETE ON sip_accounts FOR EACH ROW EXECUTE FUNCTION note_registrant_change()")
    op.execute("CREATE TRIGGER customers_registrant_change AFTER UPDATE OF enabled ON customers FOR EACH ROW "
               "WHEN (OLD.enabled IS DISTINCT FROM NEW.enabled) EXECUTE FUNCTION note_registrant_change()")


def downgrade() -> None:
    op.execute("DROP TRIGGER customers_registrant_change ON customers")
    op.execute("DROP TRIGGER sip_accounts_registrant_change ON sip_accounts")
    op.execute("DROP FUNCTION note_registrant_change()")
    op.execute("DROP FUNCTION registrant_ha1(text)")
    op.execute("DROP TABLE registrant_changes")
