"""Scheduled conferences (P9): a conference link of a customer's own, with a name, a start and a duration, beside
the video phones' conference links (L5). Existing links keep their video phone.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.alter_column("conference_links", "video_phone_id", nullable=True)
    op.add_column("conference_links", sa.Column("customer_id", sa.Integer,
                                                sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=True,
                                                comment="a scheduled conference's customer (P9)"))
    op.add_column("conference_links", sa.Column("name", sa.String(128), nullable=True))
    op.add_column("conference_links", sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("conference_links", sa.Column("duration_minutes", sa.Integer, nullable=True))
    op.create_index("conference_links_customer_start", "conference_links", ["customer_id", "starts_at"])
    op.create_check_constraint(
        "conference_links_owner", "conference_links",
        "video_phone_id IS NOT NULL OR (customer_id IS NOT NULL AND name IS NOT NULL AND starts_at IS NOT NULL "
        "AND duration_minutes BETWEEN 5 AND 1440)")


def downgrade() -> None:
    op.execute("DELETE FROM conference_links WHERE video_phone_id IS NULL")
    op.drop_constraint("conference_links_owner", "conference_links", type_="check")
    op.drop_index("conference_links_customer_start", "conference_links")
    for column in ("duration_minutes", "starts_at", "name", "customer_id"):
        op.drop_column("conference_links", column)
    op.alter_column("conference_links", "video_phone_id", nullable=False)
