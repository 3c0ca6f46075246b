"""Feeds: activities, follows, the durable copy of every feed, and notification marks.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op
from models import MYSQL_TABLE_ARGS
from models.types import AutoId, ExactString, LongText, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "activities",
        sa.Column("id", AutoId, primary_key=True),
        sa.Column("actor", ExactString(191), nullable=False),
        sa.Column("verb", sa.String(32), nullable=False),
        sa.Column("object", ExactString(191), nullable=False),
        sa.Column("target", ExactString(191)),
        sa.Column("time", UTCDateTime, nullable=False),
        sa.Column("foreign_id", ExactString(191), nullable=False, unique=True),
        sa.Column("to_feeds", sa.Text),
        sa.Column("extra", LongText),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_activities_actor", "activities", ["actor"])
    op.create_table(
        "follows",
        sa.Column("feed", ExactString(191), primary_key=True),
        sa.Column("target", ExactString(191), primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_follows_target", "follows", ["target", "feed"])
    op.create_table(
        "feed_items",
        sa.Column("feed", ExactString(191), primary_key=True),
        sa.Column("activity_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("score", sa.BigInteger, nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_feed_items_order", "feed_items", ["feed", "score", "activity_id"])
    op.create_index("ix_feed_items_activity_id", "feed_items", ["activity_id"])
    op.create_table(
        "feed_marks",
        sa.Column("feed", ExactString(191), primary_key=True),
        sa.Column("mark", ExactString(64), primary_key=True),
        sa.Column("score", sa.BigInteger, nullable=False),
        **MYSQL_TABLE_ARGS,
    )


def downgrade() -> None:
    for name in ("feed_marks", "feed_items", "follows", "activities"):
        op.drop_table(name)
