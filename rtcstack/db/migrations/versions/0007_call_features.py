"""Call features (R9-R12, R14): ring groups (a contact's devices, or the members behind a public number) rung one
after another, do-not-disturb and voicemail per account, selective routing rules, voicemail messages; and the
ring plan Kamailio loads once per call.

Existing data is kept: numbers keep their account; customers get the time zone their rules are read in.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"

NOW = sa.text("now()")

#: The SIP user a call is for (R12): an account, or a ring group; both names share one namespace.
NUMBER_ROUTES = """
    SELECT n.e164, a.username FROM numbers n JOIN sip_accounts a ON a.id = n.account_id WHERE a.enabled
    UNION ALL
    SELECT n.e164, g.name FROM numbers n JOIN ring_groups g ON g.id = n.ring_group_id
"""

#: What Kamailio does with one call (route[RING] in kamailio.cfg): `plan` is a list of steps
#: "action/username/ring_ms" joined by ";" (no colons: SQLAlchemy's text() would read ":0" as a parameter), `steps`
#: how many (actions: ring, dnd (skipped), voicemail, busy, end), `display`
#: the name every rung device shows (NULL: the caller's own).
RING_PLAN = r"""
CREATE OR REPLACE FUNCTION ring_plan(caller text, callee text, OUT plan text, OUT display text, OUT steps integer)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    account record;
    target text := callee;
    rule record;
    local_now timestamp;
    parts text[] := '{}';
    grp record;
    member record;
    mailbox boolean;
BEGIN
    -- R9: the callee's selective routing rules, in order, when the provider enabled them for its customer.
    SELECT a.id, c.selective_routing, c.time_zone INTO account
    FROM sip_accounts a JOIN customers c ON c.id = a.customer_id WHERE a.username = callee AND a.enabled;
    IF FOUND AND account.selective_routing THEN
        local_now := now() AT TIME ZONE account.time_zone;
        SELECT r.target INTO rule FROM routing_rules r
        WHERE r.account_id = account.id AND r.enabled
          AND strpos(r.days, extract(isodow FROM local_now)::text) > 0
          AND CASE WHEN r.starts_at < r.ends_at
                   THEN local_now::time >= r.starts_at AND local_now::time < r.ends_at
                   ELSE local_now::time >= r.starts_at OR local_now::time < r.ends_at END
          AND (caller LIKE r.caller_like
               OR EXISTS (SELECT 1 FROM numbers n JOIN sip_accounts ca ON ca.id = n.account_id
                          WHERE ca.username = caller AND n.e164 LIKE r.caller_like))
        ORDER BY r.position LIMIT 1;
        IF FOUND THEN
            target := COALESCE((SELECT username FROM number_routes WHERE e164 = ltrim(rule.target, '+')),
                               rule.target);
        END IF;
    END IF;

    SELECT g.id, g.display_name, g.fallback, fa.username AS fallback_user,
           fa.voicemail AND fc.voicemail_service AS fallback_mailbox
    INTO grp FROM ring_groups g
    LEFT JOIN sip_accounts fa ON fa.id = g.fallback_account_id AND fa.enabled
    LEFT JOIN customers fc ON fc.id = fa.customer_id
    WHERE g.name = target;
    IF FOUND THEN
        -- R10, R12: the members in order, each for its ring time; DND members are skipped (R11).
        FOR member IN
            SELECT a.username, a.do_not_disturb, m.ring_seconds FROM ring_group_members m
            JOIN sip_accounts a ON a.id = m.account_id
            WHERE m.group_id = grp.id AND a.enabled AND call_in_scope(caller, a.username) = 1
            ORDER BY m.position
        LOOP
            parts := parts || CASE WHEN member.do_not_disturb THEN 'dnd/' || member.username || '/0'
                                   ELSE 'ring/' || member.username || '/' || member.ring_seconds * 1000 END;
        END LOOP;
        parts := parts || CASE
            WHEN grp.fallback = 'voicemail' AND grp.fallback_mailbox THEN ARRAY['voicemail/' || grp.fallback_user || '/0']
            WHEN grp.fallback = 'account' AND grp.fallback_user IS NOT NULL THEN ARRAY['ring/' || grp.fallback_user || '/0', 'end//0']
            ELSE ARRAY['busy//0'] END;
        display := grp.display_name;
    ELSE
        SELECT a.username, a.do_not_disturb, a.ring_seconds, a.voicemail AND c.voicemail_service AS mailbox
        INTO member FROM sip_accounts a JOIN customers c ON c.id = a.customer_id
        WHERE a.username = target AND a.enabled AND c.enabled;
        IF NOT FOUND THEN
            plan := 'end//0';
            steps := 1;
            RETURN;
        END IF;
        mailbox := member.mailbox;
        IF member.do_not_disturb THEN
            parts := ARRAY['dnd/' || member.username || '/0'];
        ELSE
            -- Without a mailbox the account rings until the caller gives up (or the registrar's limit).
            parts := ARRAY['ring/' || member.username || '/' || CASE WHEN mailbox THEN member.ring_seconds * 1000 ELSE 0 END];
        END IF;
        parts := parts || CASE WHEN mailbox THEN 'voicemail/' || member.username || '/0'
                               WHEN member.do_not_disturb THEN 'busy//0' ELSE 'end//0' END;
    END IF;
    -- Seed 000: once a contact's devices are a ring group, its video phone sees every one of them as the
    -- contact ("Incoming call from Jane", not JaneAndroid or JaneiPad): the group's display name, else the contact's.
    IF display IS NULL THEN
        SELECT COALESCE(g.display_name, c.name) INTO display FROM devices d
        JOIN contacts c ON c.id = d.contact_id
        JOIN sip_accounts da ON da.id = d.account_id
        JOIN ring_groups g ON g.contact_id = d.contact_id
        JOIN video_phones v ON v.id = d.video_phone_id JOIN sip_accounts va ON va.id = v.account_id
        WHERE da.username = caller AND va.username = target;
    END IF;
    display := left(regexp_replace(display, '["\\\r\n]', '', 'g'), 64);
    plan := array_to_string(parts, ';');
    steps := cardinality(parts);
END $$
"""


#: Whether Kamailio routes a dialled name itself (an account or a ring group) rather than as a number (R7).
LOCAL = """
CREATE OR REPLACE FUNCTION dialled_local(dialled text) RETURNS integer LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = public AS $$
    SELECT CASE WHEN EXISTS (SELECT 1 FROM sip_subscribers WHERE username = dialled)
                  OR EXISTS (SELECT 1 FROM ring_groups WHERE name = dialled) THEN 1 ELSE 0 END
$$
"""


def upgrade() -> None:
    op.add_column("customers", sa.Column("time_zone", sa.String(64), nullable=False, server_default="Europe/Warsaw",
                                         comment="R9: routing rules' days and hours are read in it"))
    op.add_column("sip_accounts", sa.Column("ring_seconds", sa.Integer, nullable=False, server_default="20",
                                            comment="R14: rung this long before voicemail answers"))
    op.create_check_constraint("sip_accounts_ring_seconds", "sip_accounts", "ring_seconds BETWEEN 5 AND 120")

    op.create_table(
        "ring_groups",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True, comment="dialled as a SIP user"),
        sa.Column("display_name", sa.String(64), comment="every member's screen shows it; NULL: the caller's"),
        sa.Column("fallback", sa.String(16), nullable=False, server_default="busy"),
        sa.Column("fallback_account_id", sa.Integer, sa.ForeignKey("sip_accounts.id", ondelete="SET NULL")),
        sa.Column("contact_id", sa.Integer, sa.ForeignKey("contacts.id", ondelete="CASCADE"), unique=True,
                  comment="R10: the group rings this contact's devices"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("fallback IN ('busy', 'voicemail', 'account')", name="ring_groups_fallback"),
        sa.CheckConstraint("fallback = 'busy' OR fallback_account_id IS NOT NULL", name="ring_groups_fallback_account"),
    )
    op.create_table(
        "ring_group_members",
        sa.Column("group_id", sa.Integer, sa.ForeignKey("ring_groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("sip_accounts.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("ring_seconds", sa.Integer, nullable=False, server_default="20"),
        sa.UniqueConstraint("group_id", "account_id", name="ring_group_members_once"),
        sa.CheckConstraint("ring_seconds BETWEEN 5 AND 120", name="ring_group_members_ring_seconds"),
    )
    # One namespace for what can be dialled: a group is never named like an account, nor an account like a group.
    # The triggers name the column to check (the two tables call it differently).
    op.execute("""
        CREATE FUNCTION dialled_name_free() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
        SET search_path = public AS $$
        DECLARE
            wanted text := to_jsonb(NEW) ->> TG_ARGV[0];
        BEGIN
            IF TG_TABLE_NAME = 'ring_groups' AND EXISTS (SELECT 1 FROM sip_accounts WHERE username = wanted)
               OR TG_TABLE_NAME = 'sip_accounts' AND EXISTS (SELECT 1 FROM ring_groups WHERE name = wanted) THEN
                RAISE EXCEPTION 'the name % is taken by a SIP account or ring group', wanted
                    USING ERRCODE = 'unique_violation';
            END IF;
            RETURN NEW;
        END $$""")
    op.execute("CREATE TRIGGER ring_groups_name_free BEFORE INSERT OR UPDATE OF name ON ring_groups "
               "FOR EACH ROW EXECUTE FUNCTION dialled_name_free('name')")
    op.execute("CREATE TRIGGER sip_accounts_name_free BEFORE INSERT OR UPDATE OF username ON sip_accounts "
               "FOR EACH ROW EXECUTE FUNCTION dialled_name_free('username')")

    # R12: a number routes to one account or one ring group.
    op.alter_column("numbers", "account_id", nullable=True)
    op.add_column("numbers", sa.Column("ring_group_id", sa.Integer, sa.ForeignKey("ring_groups.id", ondelete="CASCADE"),
                                       index=True))
    op.create_check_constraint("numbers_one_target", "numbers", "(account_id IS NULL) <> (ring_group_id IS NULL)")
    op.execute(f"CREATE OR REPLACE VIEW number_routes AS {NUMBER_ROUTES}")

    # R9: forward a call by caller and time.
    op.create_table(
        "routing_rules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("sip_accounts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("caller_pattern", sa.String(64), nullable=False, comment="digits and letters, * any run, ? one"),
        sa.Column("caller_like", sa.String(64), sa.Computed(
            "replace(replace(caller_pattern, '*', '%'), '?', '_')", persisted=True), nullable=False),
        sa.Column("days", sa.String(7), nullable=False, server_default="1234567", comment="ISO weekdays, 1 Monday"),
        sa.Column("starts_at", sa.Time, nullable=False, server_default="00:00"),
        sa.Column("ends_at", sa.Time, nullable=False, server_default="00:00",
                  comment="equal to starts_at: all day; earlier: the window spans midnight"),
        sa.Column("target", sa.String(64), nullable=False, comment="an account, a ring group or a number of ours"),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.UniqueConstraint("account_id", "position", name="routing_rules_position"),
        sa.CheckConstraint("days ~ '^[1-7]{1,7}$'", name="routing_rules_days"),
        sa.CheckConstraint("caller_pattern ~ '^[A-Za-z0-9.+*?-]{1,64}$'", name="routing_rules_pattern"),
    )

    # R14: voicemail messages (the audio is a file on the voicemail host that recorded it).
    op.create_table(
        "voicemail_messages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("sip_accounts.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("caller", sa.String(128), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("seconds", sa.Numeric(8, 2), nullable=False),
        sa.Column("host", sa.String(64), nullable=False, comment="the voicemail host holding the file"),
        sa.Column("path", sa.String(255), nullable=False),
        sa.Column("call_id", sa.String(255), nullable=False, unique=True),
        sa.Column("heard_at", sa.DateTime(timezone=True)),
    )
    # A mailbox's own greeting (8 kHz mono WAV): in the database, so every voicemail host plays it.
    op.create_table(
        "voicemail_greetings",
        sa.Column("account_id", sa.Integer, sa.ForeignKey("sip_accounts.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("audio", sa.LargeBinary, nullable=False),
        sa.Column("seconds", sa.Numeric(8, 2), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.execute(RING_PLAN)
    op.execute(LOCAL)


def downgrade() -> None:
    op.execute("DROP FUNCTION dialled_local(text)")
    op.execute("DROP FUNCTION ring_plan(text, text)")
    op.drop_table("voicemail_greetings")
    op.drop_table("voicemail_messages")
    op.drop_table("routing_rules")
    op.execute("DELETE FROM numbers WHERE account_id IS NULL")
    op.execute("""CREATE OR REPLACE VIEW number_routes AS
        SELECT n.e164, a.username FROM numbers n JOIN sip_accounts a ON a.id = n.account_id WHERE a.enabled""")
    op.drop_constraint("numbers_one_target", "numbers")
    op.drop_column("numbers", "ring_group_id")
    op.alter_column("numbers", "account_id", nullable=False)
    op.execute("DROP TRIGGER sip_accounts_name_free ON sip_accounts")
    op.execute("DROP TRIGGER ring_groups_name_free ON ring_groups")
    op.execute("DROP FUNCTION dialled_name_free()")
    op.drop_table("ring_group_members")
    op.drop_table("ring_groups")
    op.drop_constraint("sip_accounts_ring_seconds", "sip_accounts")
    op.drop_column("sip_accounts", "ring_seconds")
    op.drop_column("customers", "time_zone")
