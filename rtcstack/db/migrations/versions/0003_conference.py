"""Conference links (L5-L7): one link per video phone, the conference's own SIP account that calls the video
phone into the group, and the diagnostics reports browsers store.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

NOW = sa.text("now()")

CIRCLES = """
    SELECT a.username, v.id AS video_phone_id, false AS scoped
    FROM video_phones v JOIN sip_accounts a ON a.id = v.account_id
    UNION ALL
    SELECT a.username, d.video_phone_id, true AS scoped
    FROM devices d JOIN sip_accounts a ON a.id = d.account_id
"""


def upgrade() -> None:
    op.add_column("video_phones", sa.Column(
        "conference_account_id", sa.Integer, sa.ForeignKey("sip_accounts.id", ondelete="SET NULL"), unique=True,
        comment="the SIP account the conference calls the video phone from (L5)"))
    op.create_table(
        "conference_links",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("video_phone_id", sa.Integer, sa.ForeignKey("video_phones.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("token_sealed", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("last_joined_at", sa.DateTime(timezone=True)),
    )
    op.execute("CREATE UNIQUE INDEX conference_links_one_active ON conference_links (video_phone_id) "
               "WHERE revoked_at IS NULL")
    op.create_table(
        "diagnostics",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("conference_link_id", sa.Integer, sa.ForeignKey("conference_links.id", ondelete="SET NULL"),
                  index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("summary", sa.String(500), nullable=False),
        sa.Column("user_agent", sa.String(512), nullable=False, server_default=""),
        sa.Column("report", sa.Text, nullable=False),
    )
    op.execute("CREATE INDEX diagnostics_newest ON diagnostics (created_at DESC)")
    # The conference's account is scoped like a device: it calls inside its video phone's circle only.
    op.execute(f"""CREATE OR REPLACE VIEW account_circles AS {CIRCLES}
        UNION ALL
        SELECT a.username, v.id, true
        FROM video_phones v JOIN sip_accounts a ON a.id = v.conference_account_id""")


def downgrade() -> None:
    op.execute(f"CREATE OR REPLACE VIEW account_circles AS {CIRCLES}")
    op.drop_table("diagnostics")
    op.drop_table("conference_links")
    op.drop_column("video_phones", "conference_account_id")
