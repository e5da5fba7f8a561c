"""rtcstack's first schema: customers, subscriptions, accounts, numbers, tariffs, CDRs and Kamailio's views.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

MONEY = sa.Numeric(12, 4)
NOW = sa.text("now()")


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("international", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("max_rate", MONEY),
        sa.Column("balance", MONEY, nullable=False, server_default="0"),
        sa.Column("credit_limit", MONEY, nullable=False, server_default="0"),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "channel_subscriptions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("channels", sa.Integer, nullable=False),
        sa.Column("minute_packs", sa.Integer, nullable=False, server_default="0"),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.text("now() + interval '30 days'")),
        sa.Column("renews", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("cancelled_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("channels BETWEEN 1 AND 300", name="channels_range"),
    )
    op.create_table(
        "sip_accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("ha1", sa.String(64), nullable=False),
        sa.Column("ha1_sha256", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(128)),
        sa.Column("international", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("max_rate", MONEY),
        sa.Column("do_not_disturb", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("voicemail", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "numbers",
        sa.Column("e164", sa.String(16), primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("sip_accounts.id", ondelete="CASCADE"), nullable=False,
                  index=True),
    )
    op.create_table(
        "tariffs",
        sa.Column("prefix", sa.String(15), primary_key=True),
        sa.Column("price_per_minute", MONEY, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.CheckConstraint("prefix ~ '^[0-9]{1,15}$'", name="prefix_digits"),
        sa.CheckConstraint("price_per_minute >= 0", name="price_not_negative"),
    )
    op.create_table(
        "cdrs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("call_id", sa.String(255), nullable=False),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="SET NULL"), index=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("sip_accounts.id", ondelete="SET NULL")),
        sa.Column("caller", sa.String(64), nullable=False),
        sa.Column("callee", sa.String(64), nullable=False),
        sa.Column("destination", sa.String(64)),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("answer_time", sa.DateTime(timezone=True)),
        sa.Column("end_time", sa.DateTime(timezone=True)),
        sa.Column("duration_seconds", sa.Integer, nullable=False, server_default="0"),
        sa.Column("sip_code", sa.Integer, nullable=False),
        sa.Column("sip_reason", sa.String(128), nullable=False),
        sa.Column("price_per_minute", MONEY),
        sa.UniqueConstraint("call_id", name="cdrs_call_id"),
    )

    # Kamailio's auth_db reads this view: one row per enabled account, with the limits the registrar
    # enforces already combined (R5 channels, R7 international, R8 rate cap in 1/10000 of a unit).
    op.execute("""
        CREATE VIEW sip_subscribers AS
        SELECT a.username, a.ha1, a.ha1_sha256, a.id AS account_id, c.id AS customer_id,
               CASE WHEN c.international THEN 1 ELSE 0 END AS customer_international,
               CASE WHEN a.international THEN 1 ELSE 0 END AS account_international,
               CAST(round(LEAST(COALESCE(a.max_rate, c.max_rate), COALESCE(c.max_rate, a.max_rate)) * 10000)
                    AS INTEGER) AS max_rate_units,
               COALESCE((SELECT s.channels FROM channel_subscriptions s
                         WHERE s.customer_id = c.id AND s.cancelled_at IS NULL
                           AND s.starts_at <= now() AND (s.ends_at > now() OR s.renews)
                         ORDER BY s.starts_at DESC LIMIT 1), 0) AS channels
        FROM sip_accounts a JOIN customers c ON c.id = a.customer_id
        WHERE a.enabled AND c.enabled
    """)
    op.execute("""
        CREATE VIEW number_routes AS
        SELECT n.e164, a.username FROM numbers n JOIN sip_accounts a ON a.id = n.account_id WHERE a.enabled
    """)
    # auth_db checks the version of the table it reads; subscriber's schema version is 7.
    op.execute("INSERT INTO version (table_name, table_version) VALUES ('sip_subscribers', 7)")
    op.execute("""
        CREATE FUNCTION tariff_units(destination text) RETURNS integer LANGUAGE sql STABLE AS $$
            SELECT CAST(round(price_per_minute * 10000) AS INTEGER) FROM tariffs
            WHERE destination LIKE prefix || '%' ORDER BY length(prefix) DESC LIMIT 1
        $$
    """)

    # Kamailio's accounting rows carry these extras; a trigger assembles them into cdrs (R6). Kamailio
    # writes local times without a zone; hosts and PostgreSQL share system.timezone, so a cast places them.
    for table in ("acc", "missed_calls"):
        op.add_column(table, sa.Column("src_user", sa.String(64)))
        op.add_column(table, sa.Column("dst_user", sa.String(64)))
        op.add_column(table, sa.Column("destination", sa.String(64)))
        # Kamailio writes an unset extra as '' rather than NULL: keep them text, the trigger converts.
        op.add_column(table, sa.Column("customer_id", sa.String(16)))
        op.add_column(table, sa.Column("account_id", sa.String(16)))
        op.add_column(table, sa.Column("start_time", sa.String(32)))
        op.add_column(table, sa.Column("price_units", sa.String(16)))
    op.execute("""
        CREATE FUNCTION cdr_from_accounting() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = public AS $$
        DECLARE
            answered boolean := TG_TABLE_NAME = 'acc' AND NEW.method = 'INVITE';
        BEGIN
            IF TG_TABLE_NAME = 'acc' AND NEW.method = 'BYE' THEN
                UPDATE cdrs SET end_time = CAST(NEW.time AS timestamptz),
                       duration_seconds = GREATEST(0, CAST(ceil(EXTRACT(EPOCH FROM
                           CAST(NEW.time AS timestamptz) - answer_time)) AS INTEGER))
                WHERE call_id = NEW.callid AND end_time IS NULL;
                RETURN NEW;
            END IF;
            IF NEW.method <> 'INVITE' THEN
                RETURN NEW;
            END IF;
            INSERT INTO cdrs (call_id, customer_id, account_id, caller, callee, destination, start_time,
                              answer_time, end_time, sip_code, sip_reason, price_per_minute)
            VALUES (NEW.callid, CAST(NULLIF(NEW.customer_id, '') AS INTEGER),
                    CAST(NULLIF(NEW.account_id, '') AS INTEGER), COALESCE(NEW.src_user, ''),
                    COALESCE(NEW.dst_user, ''), NULLIF(NEW.destination, ''),
                    COALESCE(CAST(NULLIF(NEW.start_time, '') AS timestamptz), CAST(NEW.time AS timestamptz)),
                    CASE WHEN answered THEN CAST(NEW.time AS timestamptz) END,
                    CASE WHEN NOT answered THEN CAST(NEW.time AS timestamptz) END,
                    CAST(NEW.sip_code AS INTEGER), NEW.sip_reason,
                    CAST(NULLIF(NEW.price_units, '') AS INTEGER) / 10000.0)
            ON CONFLICT (call_id) DO NOTHING;
            RETURN NEW;
        END $$
    """)
    for table in ("acc", "missed_calls"):
        op.execute(f"CREATE TRIGGER {table}_to_cdrs AFTER INSERT ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION cdr_from_accounting()")
