"""Mutes, blocks and muted words: what each user keeps out of their timelines and notifications.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op
from models import MYSQL_TABLE_ARGS
from models.types import ExactString, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_filters",
        sa.Column("owner", ExactString(150), primary_key=True),
        sa.Column("kind", ExactString(8), primary_key=True),
        sa.Column("value", ExactString(150), primary_key=True),
        sa.Column("created_at", UTCDateTime, server_default=sa.func.now(), nullable=False),
        **MYSQL_TABLE_ARGS,
    )


def downgrade() -> None:
    op.drop_table("feed_filters")
