"""The customer portal and the provider admin (P1-P12, P14, P15): portal users with argon2id passwords, their
server-side sessions and single-use password links, failed logins (throttling), the customer's profile (P3),
the provider's feature switches (P8, P10) and the balance ledger (top-ups).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

NOW = sa.text("now()")
PROFILE = ("company", "title", "first_name", "middle_name", "last_name", "county", "region", "postcode", "city",
           "country", "contact", "phone", "fax", "extra_phone", "extra_contact", "email", "description")


def upgrade() -> None:
    op.add_column("customers", sa.Column("selective_routing", sa.Boolean, nullable=False, server_default="false",
                                         comment="P8 feature switch, set by the provider"))
    op.add_column("customers", sa.Column("voicemail_service", sa.Boolean, nullable=False, server_default="false",
                                         comment="P10 feature switch, set by the provider"))
    op.create_table(
        "customer_profiles",
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
        *(sa.Column(name, sa.Text if name == "description" else sa.String(254), nullable=False, server_default="")
          for name in PROFILE),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "portal_users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), comment="argon2id; NULL until the user sets one"),
        sa.Column("time_zone", sa.String(64), nullable=False, server_default="Europe/Warsaw"),
        sa.Column("language", sa.String(2), comment="NULL: the browser's (Accept-Language)"),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default="true"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("password_changed_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("role IN ('customer_admin', 'customer_user', 'provider_admin')", name="portal_users_role"),
        sa.CheckConstraint("(role = 'provider_admin') = (customer_id IS NULL)", name="portal_users_scope"),
        sa.CheckConstraint("language IN ('pl', 'en')", name="portal_users_language"),
    )
    op.execute("CREATE UNIQUE INDEX portal_users_email ON portal_users (lower(email))")
    op.create_table(
        "portal_sessions",
        sa.Column("id_sha256", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("portal_users.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("address", sa.String(45), nullable=False, server_default=""),
        sa.Column("reauthenticated_at", sa.DateTime(timezone=True),
                  comment="the portal password was entered again (P4: SIP passwords may be shown)"),
    )
    op.create_table(
        "portal_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("portal_users.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("purpose IN ('set_password', 'reset')", name="portal_tokens_purpose"),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("address", sa.String(45), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.execute("CREATE INDEX login_failures_email ON login_failures (lower(email), at)")
    op.execute("CREATE INDEX login_failures_address ON login_failures (address, at)")
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("amount", sa.Numeric(12, 4), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("note", sa.String(254), nullable=False, server_default=""),
        sa.Column("created_by", sa.String(254), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.CheckConstraint("kind IN ('top_up', 'adjustment')", name="ledger_entries_kind"),
    )
    # Billing history reads one customer's calls newest first.
    op.execute("CREATE INDEX cdrs_customer_start ON cdrs (customer_id, start_time DESC)")


def downgrade() -> None:
    op.execute("DROP INDEX cdrs_customer_start")
    for table in ("ledger_entries", "login_failures", "portal_tokens", "portal_sessions", "portal_users",
                  "customer_profiles"):
        op.drop_table(table)
    op.drop_column("customers", "voicemail_service")
    op.drop_column("customers", "selective_routing")
