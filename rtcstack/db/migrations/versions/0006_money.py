"""Money (P13, P2, P11, P15): SIP profiles, channel subscriptions per profile with prices, pro-rata refunds and
renewals, minute packs, an append-only ledger that keeps each balance, and calls charged when they end.

Existing data is kept: every customer gets one profile ("main") holding its accounts and its subscriptions
(bought before prices existed: paid 0); an opening ledger entry makes each balance equal to its ledger.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from rtcstack.domain.money import PACK_MINUTES, SCALE

revision = "0006"
down_revision = "0005"

MONEY = sa.Numeric(12, 4)
NOW = sa.text("now()")
LEDGER_KINDS = ("top_up", "adjustment", "correction", "purchase", "refund", "renewal", "call")

#: The view auth_db reads: 0001's columns, the channel limit now per SIP profile (R5, P13), then the profile,
#: whether the customer can pay for a call (balance + credit limit above 0) and whether its term lapsed unpaid.
SUBSCRIBERS = """
    SELECT a.username, a.ha1, a.ha1_sha256, a.id AS account_id, c.id AS customer_id,
           CASE WHEN c.international THEN 1 ELSE 0 END AS customer_international,
           CASE WHEN a.international THEN 1 ELSE 0 END AS account_international,
           CAST(round(LEAST(COALESCE(a.max_rate, c.max_rate), COALESCE(c.max_rate, a.max_rate)) * 10000)
                AS INTEGER) AS max_rate_units,
           COALESCE((SELECT s.channels FROM active_terms s WHERE s.profile_id = a.profile_id
                     ORDER BY s.starts_at DESC LIMIT 1), 0) AS channels,
           a.profile_id,
           CASE WHEN c.balance + c.credit_limit > 0 THEN 1 ELSE 0 END AS funded,
           CASE WHEN NOT EXISTS (SELECT 1 FROM active_terms s WHERE s.profile_id = a.profile_id)
                 AND (SELECT s.lapsed_at FROM channel_subscriptions s WHERE s.profile_id = a.profile_id
                      ORDER BY s.starts_at DESC, s.id DESC LIMIT 1) IS NOT NULL THEN 1 ELSE 0 END AS lapsed
    FROM sip_accounts a JOIN customers c ON c.id = a.customer_id
    WHERE a.enabled AND c.enabled
"""


def upgrade() -> None:
    op.execute(f"CREATE FUNCTION money_round(amount numeric) RETURNS numeric LANGUAGE sql IMMUTABLE "
               f"AS $$ SELECT round(amount, {SCALE}) $$")

    # --- SIP profiles: each customer's existing accounts and subscriptions move to its first profile -------
    op.create_table(
        "sip_profiles",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.UniqueConstraint("customer_id", "name", name="sip_profiles_name_per_customer"),
    )
    op.execute("INSERT INTO sip_profiles (customer_id, name) SELECT id, 'main' FROM customers ORDER BY id")
    op.execute("""
        CREATE FUNCTION customer_first_profile() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = public AS $$
        BEGIN
            INSERT INTO sip_profiles (customer_id, name) VALUES (NEW.id, 'main');
            RETURN NEW;
        END $$""")
    op.execute("CREATE TRIGGER customers_first_profile AFTER INSERT ON customers FOR EACH ROW "
               "EXECUTE FUNCTION customer_first_profile()")

    op.add_column("sip_accounts", sa.Column("profile_id", sa.Integer,
                                            sa.ForeignKey("sip_profiles.id", ondelete="RESTRICT"), index=True))
    op.execute("UPDATE sip_accounts a SET profile_id = p.id FROM sip_profiles p WHERE p.customer_id = a.customer_id")
    op.alter_column("sip_accounts", "profile_id", nullable=False)
    # An account made without a profile (imports, the links service's devices) joins its customer's first one;
    # an account never joins another customer's profile.
    op.execute("""
        CREATE FUNCTION sip_account_profile() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = public AS $$
        BEGIN
            IF NEW.profile_id IS NULL THEN
                SELECT id INTO NEW.profile_id FROM sip_profiles WHERE customer_id = NEW.customer_id
                ORDER BY id LIMIT 1;
            ELSIF NOT EXISTS (SELECT 1 FROM sip_profiles WHERE id = NEW.profile_id
                              AND customer_id = NEW.customer_id) THEN
                RAISE EXCEPTION 'SIP profile % belongs to another customer', NEW.profile_id;
            END IF;
            RETURN NEW;
        END $$""")
    op.execute("CREATE TRIGGER sip_accounts_profile BEFORE INSERT OR UPDATE OF profile_id, customer_id "
               "ON sip_accounts FOR EACH ROW EXECUTE FUNCTION sip_account_profile()")

    # --- subscriptions: one row per term --------------------------------------------------------------------
    sub = "channel_subscriptions"
    op.add_column(sub, sa.Column("profile_id", sa.Integer, sa.ForeignKey("sip_profiles.id", ondelete="CASCADE"),
                                 index=True))
    op.execute(f"UPDATE {sub} s SET profile_id = p.id FROM sip_profiles p WHERE p.customer_id = s.customer_id")
    op.alter_column(sub, "profile_id", nullable=False)
    op.add_column(sub, sa.Column("kind", sa.String(16), nullable=False, server_default="purchase",
                                 comment="purchase, change (replaced a term early) or renewal"))
    op.add_column(sub, sa.Column("channel_price", MONEY, nullable=False, server_default="0",
                                 comment="paid for the channels of this term"))
    op.add_column(sub, sa.Column("pack_price", MONEY, nullable=False, server_default="0",
                                 comment="paid for the minute packs of this term"))
    op.add_column(sub, sa.Column("pack_seconds", sa.Integer, nullable=False, server_default="0"))
    op.add_column(sub, sa.Column("pack_seconds_left", sa.Integer, nullable=False, server_default="0"))
    op.add_column(sub, sa.Column("renewal_of", sa.Integer, sa.ForeignKey(f"{sub}.id", ondelete="SET NULL"),
                                 unique=True, comment="the term this one renews: each term is renewed once"))
    op.add_column(sub, sa.Column("renewal_cancelled_at", sa.DateTime(timezone=True),
                                 comment="cancelled by the customer: runs to its end, then no renewal"))
    op.add_column(sub, sa.Column("lapsed_at", sa.DateTime(timezone=True),
                                 comment="ended unpaid: the balance did not cover the renewal"))
    op.add_column(sub, sa.Column("refund", MONEY, nullable=False, server_default="0",
                                 comment="refunded when a change ended this term early"))
    op.create_check_constraint("packs_within_channels", sub, "minute_packs BETWEEN 0 AND channels")
    op.create_check_constraint("kind", sub, "kind IN ('purchase', 'change', 'renewal')")
    # The terms that give channels now: started, not replaced, not lapsed, and either running or, when they
    # renew, waiting up to a day for the renewal timer.
    op.execute(f"""
        CREATE VIEW active_terms AS
        SELECT * FROM {sub} s
        WHERE s.cancelled_at IS NULL AND s.lapsed_at IS NULL AND s.starts_at <= now()
          AND (s.ends_at > now() OR (s.renews AND s.ends_at > now() - interval '1 day'))""")

    # --- the ledger: append-only, and the only way a balance changes -------------------------------------
    op.drop_constraint("ledger_entries_kind", "ledger_entries")
    op.create_check_constraint("ledger_entries_kind", "ledger_entries",
                               "kind IN (" + ", ".join(f"'{k}'" for k in LEDGER_KINDS) + ")")
    op.create_check_constraint("ledger_entries_scale", "ledger_entries", "amount = money_round(amount)")
    op.add_column("ledger_entries", sa.Column("subscription_id", sa.Integer,
                                              sa.ForeignKey(f"{sub}.id", ondelete="SET NULL"), index=True))
    op.add_column("ledger_entries", sa.Column("cdr_id", sa.Integer, sa.ForeignKey("cdrs.id", ondelete="SET NULL"),
                                              unique=True, comment="a call is charged once"))
    op.execute("""
        INSERT INTO ledger_entries (customer_id, amount, kind, note, created_by)
        SELECT c.id, c.balance - COALESCE(SUM(l.amount), 0), 'adjustment', 'opening balance', 'migration 0006'
        FROM customers c LEFT JOIN ledger_entries l ON l.customer_id = c.id
        GROUP BY c.id HAVING c.balance <> COALESCE(SUM(l.amount), 0)""")
    op.execute("""
        CREATE FUNCTION ledger_keeps_balance() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = public AS $$
        BEGIN
            IF TG_OP = 'INSERT' THEN
                UPDATE customers SET balance = balance + NEW.amount WHERE id = NEW.customer_id;
                RETURN NEW;
            END IF;
            -- a customer deleted takes its entries along; nothing else changes or removes one
            IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM customers WHERE id = OLD.customer_id) THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION 'ledger entries are append-only: record a correction instead';
        END $$""")
    op.execute("CREATE TRIGGER ledger_entries_balance AFTER INSERT ON ledger_entries FOR EACH ROW "
               "EXECUTE FUNCTION ledger_keeps_balance()")
    op.execute("CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries FOR EACH ROW "
               "EXECUTE FUNCTION ledger_keeps_balance()")
    # The proof: customers whose balance is not their ledger's sum (always none).
    op.execute("""
        CREATE VIEW ledger_mismatches AS
        SELECT c.id AS customer_id, c.balance, COALESCE(SUM(l.amount), 0) AS ledger_sum
        FROM customers c LEFT JOIN ledger_entries l ON l.customer_id = c.id
        GROUP BY c.id HAVING c.balance <> COALESCE(SUM(l.amount), 0)""")

    # --- billing rules the database applies when a call ends (from billing.*, written by each deploy) -------
    op.create_table(
        "billing_rules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("increment_seconds", sa.Integer, nullable=False, server_default="60"),
        sa.Column("pack_prefixes", sa.ARRAY(sa.String(15)), nullable=False, server_default=sa.text("'{1}'")),
        sa.Column("pack_seconds", sa.Integer, nullable=False, server_default=str(PACK_MINUTES * 60)),
        sa.CheckConstraint("id = 1", name="billing_rules_one_row"),
        sa.CheckConstraint("increment_seconds BETWEEN 1 AND 60", name="billing_rules_increment"),
    )
    op.execute("INSERT INTO billing_rules (id) VALUES (1)")

    # --- calls: charged when they end ----------------------------------------------------------------------
    op.add_column("cdrs", sa.Column("billable_seconds", sa.Integer, nullable=False, server_default="0"))
    op.add_column("cdrs", sa.Column("pack_seconds", sa.Integer, nullable=False, server_default="0",
                                    comment="seconds taken from minute packs"))
    op.add_column("cdrs", sa.Column("cost", MONEY, nullable=False, server_default="0"))
    # domain.money.call_charge, applied by the database in the transaction that ends the call: billable
    # seconds rounded up to the increment, from the packs first for the destinations they cover, the rest
    # at the tariff's per-minute price, rounded once; the ledger entry is unique per CDR.
    op.execute("""
        CREATE FUNCTION charge_call(cdr integer) RETURNS void LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = public AS $$
        DECLARE
            c record;
            rules billing_rules%ROWTYPE;
            billable integer;
            from_packs integer := 0;
            term record;
            amount numeric;
        BEGIN
            SELECT d.*, a.profile_id INTO c FROM cdrs d LEFT JOIN sip_accounts a ON a.id = d.account_id
            WHERE d.id = cdr;
            IF c.price_per_minute IS NULL OR c.customer_id IS NULL OR c.answer_time IS NULL THEN
                RETURN;
            END IF;
            SELECT * INTO rules FROM billing_rules WHERE id = 1;
            billable := CASE WHEN c.duration_seconds <= 0 THEN 0
                        ELSE CAST(ceil(c.duration_seconds / CAST(rules.increment_seconds AS numeric))
                                  AS integer) * rules.increment_seconds END;
            IF c.profile_id IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(rules.pack_prefixes) p
                                                    WHERE c.destination LIKE p || '%') THEN
                SELECT id, pack_seconds_left INTO term FROM active_terms
                WHERE profile_id = c.profile_id AND pack_seconds_left > 0
                ORDER BY starts_at DESC LIMIT 1;
                IF term.id IS NOT NULL THEN
                    -- locked and read again: two calls ending at once never spend the same seconds
                    SELECT pack_seconds_left INTO term.pack_seconds_left FROM channel_subscriptions
                    WHERE id = term.id FOR UPDATE;
                    from_packs := LEAST(billable, term.pack_seconds_left);
                    UPDATE channel_subscriptions SET pack_seconds_left = pack_seconds_left - from_packs
                    WHERE id = term.id;
                END IF;
            END IF;
            amount := money_round(c.price_per_minute * (billable - from_packs) / 60);
            UPDATE cdrs SET billable_seconds = billable, pack_seconds = from_packs, cost = amount WHERE id = cdr;
            IF amount > 0 THEN
                INSERT INTO ledger_entries (customer_id, amount, kind, note, created_by, cdr_id)
                VALUES (c.customer_id, -amount, 'call', COALESCE(c.destination, c.callee), 'registrar', cdr)
                ON CONFLICT (cdr_id) DO NOTHING;
            END IF;
        END $$""")
    op.execute("""
        CREATE OR REPLACE FUNCTION cdr_from_accounting() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = public AS $$
        DECLARE
            answered boolean := TG_TABLE_NAME = 'acc' AND NEW.method = 'INVITE';
            ended integer;
        BEGIN
            IF TG_TABLE_NAME = 'acc' AND NEW.method = 'BYE' THEN
                UPDATE cdrs SET end_time = CAST(NEW.time AS timestamptz),
                       duration_seconds = GREATEST(0, CAST(ceil(EXTRACT(EPOCH FROM
                           CAST(NEW.time AS timestamptz) - answer_time)) AS INTEGER))
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
        END $$""")

    # --- what the registrar asks ----------------------------------------------------------------------------
    op.execute(f"CREATE OR REPLACE VIEW sip_subscribers AS {SUBSCRIBERS}")
    # A call the balance cannot pay may still go where the profile has pack minutes left.
    op.execute("""
        CREATE FUNCTION pack_covers(profile integer, destination text) RETURNS integer LANGUAGE sql STABLE
        SECURITY DEFINER SET search_path = public AS $$
            SELECT CASE WHEN EXISTS (
                SELECT 1 FROM active_terms s, billing_rules r, unnest(r.pack_prefixes) p
                WHERE s.profile_id = profile AND s.pack_seconds_left > 0 AND destination LIKE p || '%')
            THEN 1 ELSE 0 END
        $$""")


def downgrade() -> None:
    op.execute("DROP FUNCTION pack_covers(integer, text)")
    op.execute("DROP VIEW sip_subscribers")
    raise NotImplementedError("0006 keeps money: restore a backup to go back")
