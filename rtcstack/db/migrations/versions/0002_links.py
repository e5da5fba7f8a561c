"""Links (L1-L4, P14): video phones, their contacts, invites, the devices redeem creates, the outbox, and the
scope check Kamailio asks before every call.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"

NOW = sa.text("now()")


def _id(table: str, column: str, nullable: bool = False, unique: bool = False, ondelete: str = "CASCADE"):
    return sa.Column(column, sa.Integer, sa.ForeignKey(f"{table}.id", ondelete=ondelete), nullable=nullable,
                     index=not unique, unique=unique)


def upgrade() -> None:
    op.create_table(
        "video_phones",
        sa.Column("id", sa.Integer, primary_key=True),
        _id("customers", "customer_id"),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(128), nullable=False),
        _id("sip_accounts", "account_id", unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer, primary_key=True),
        _id("video_phones", "video_phone_id"),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False, server_default="video"),
        sa.Column("email", sa.String(254)),
        sa.Column("mobile", sa.String(16)),
        sa.Column("language", sa.String(2), nullable=False, server_default="pl"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.UniqueConstraint("video_phone_id", "name", name="contacts_name_per_video_phone"),
        sa.CheckConstraint("kind IN ('video', 'phone')", name="contacts_kind"),
        sa.CheckConstraint("kind = 'phone' OR email IS NOT NULL OR mobile IS NOT NULL", name="contacts_reachable"),
        sa.CheckConstraint("language IN ('pl', 'en')", name="contacts_language"),
    )
    op.create_table(
        "invites",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        _id("contacts", "contact_id"),
        _id("video_phones", "video_phone_id"),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("channel IN ('email', 'sms', 'none')", name="invites_channel"),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer, primary_key=True),
        _id("sip_accounts", "account_id", unique=True),
        _id("contacts", "contact_id"),
        _id("video_phones", "video_phone_id"),
        _id("invites", "invite_id", unique=True),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("recovery_email", sa.String(254)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.execute("CREATE UNIQUE INDEX devices_recovery_email ON devices (lower(recovery_email))")
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("recipient", sa.String(254), nullable=False),
        _id("invites", "invite_id", nullable=True, ondelete="SET NULL"),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("failed_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
        sa.CheckConstraint("kind IN ('email', 'sms')", name="outbox_kind"),
    )
    op.execute("CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL")

    # L4: the circle of a video phone is its own account and the accounts of its contacts' devices. A call
    # that involves a device account stays inside the device's circle; other accounts are not scoped.
    op.execute("""
        CREATE VIEW account_circles AS
        SELECT a.username, v.id AS video_phone_id, false AS scoped
        FROM video_phones v JOIN sip_accounts a ON a.id = v.account_id
        UNION ALL
        SELECT a.username, d.video_phone_id, true AS scoped
        FROM devices d JOIN sip_accounts a ON a.id = d.account_id
    """)
    op.execute(f"CREATE {IN_SCOPE}")


#: L4 as this migration wrote it (0011 makes it PL/pgSQL; its downgrade puts this back).
IN_SCOPE = """
        FUNCTION call_in_scope(caller text, callee text) RETURNS integer LANGUAGE sql STABLE
        SECURITY DEFINER SET search_path = public AS $$
            SELECT CASE
                WHEN NOT EXISTS (SELECT 1 FROM account_circles WHERE scoped AND username IN (caller, callee)) THEN 1
                WHEN EXISTS (SELECT 1 FROM account_circles x JOIN account_circles y USING (video_phone_id)
                             WHERE x.username = caller AND y.username = callee) THEN 1
                ELSE 0 END
        $$
"""


def downgrade() -> None:
    op.execute("DROP FUNCTION call_in_scope(text, text)")
    op.execute("DROP VIEW account_circles")
    for table in ("outbox", "devices", "invites", "contacts", "video_phones"):
        op.drop_table(table)
