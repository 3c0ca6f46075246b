"""Follows record which of the target's items the follower holds, so feeds that follow others
are derived from SQL instead of copied into ``feed_items`` row by row.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COLUMNS = ("after_score", "after_id", "watermark")


def upgrade() -> None:
    with op.batch_alter_table("follows") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.BigInteger, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("follows") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
