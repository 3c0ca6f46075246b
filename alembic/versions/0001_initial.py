"""The ingest tables: tweets, users, hashtags, mentions, deletions, terms, keys, processes,
dead letters.

The tweet table is built from the configured tweet model (``TWEETFEED_TWEET_MODEL``), the way a
swappable model works: a user's subclass of AbstractTweet gets its extra columns here.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op
from models import MYSQL_TABLE_ARGS, load_tweet_model
from models.types import AutoId, Blob, ExactString, LongText, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _tweets() -> None:
    table = load_tweet_model().__table__  # type: ignore[attr-defined]
    op.create_table(
        table.name,
        *[column._copy() for column in table.columns],
        **MYSQL_TABLE_ARGS,
    )
    for index in table.indexes:
        op.create_index(index.name, table.name, [c.name for c in index.columns])
    if op.get_bind().dialect.name == "postgresql":
        # raw is lz4 already: skip pglz's second attempt at compressing it.
        op.execute(f"ALTER TABLE {table.name} ALTER COLUMN raw SET STORAGE EXTERNAL")


def upgrade() -> None:
    _tweets()
    op.create_table(
        "twitter_users",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("screen_name", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("description", sa.Text),
        sa.Column("location", sa.String(200)),
        sa.Column("followers_count", sa.BigInteger),
        sa.Column("following_count", sa.BigInteger),
        sa.Column("verified", sa.Boolean),
        sa.Column("profile_image_url", sa.Text),
        sa.Column("profile_at", UTCDateTime, nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_twitter_users_screen_name", "twitter_users", ["screen_name"])
    op.create_table(
        "tweet_hashtags",
        sa.Column("tweet_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("tag", ExactString(191), primary_key=True),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_tweet_hashtags_tag", "tweet_hashtags", ["tag"])
    op.create_table(
        "tweet_mentions",
        sa.Column("tweet_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.BigInteger, primary_key=True, autoincrement=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_tweet_mentions_user_id", "tweet_mentions", ["user_id"])
    op.create_table(
        "tweet_deletions",
        sa.Column("tweet_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.BigInteger),
        sa.Column("deleted_at", UTCDateTime, nullable=False),
        **MYSQL_TABLE_ARGS,
    )
    op.create_table(
        "filter_terms",
        sa.Column("id", AutoId, primary_key=True),
        sa.Column("term", ExactString(512), nullable=False, unique=True),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
        **MYSQL_TABLE_ARGS,
    )
    op.create_table(
        "api_keys",
        sa.Column("id", AutoId, primary_key=True),
        sa.Column("name", ExactString(191), nullable=False, unique=True),
        sa.Column("bearer_token", sa.Text),
        sa.Column("api_key", sa.Text),
        sa.Column("api_secret", sa.Text),
        sa.Column("access_token", sa.Text),
        sa.Column("access_token_secret", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False, server_default=sa.func.now()),
        **MYSQL_TABLE_ARGS,
    )
    op.create_table(
        "stream_processes",
        sa.Column("id", AutoId, primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("keys_name", sa.String(191)),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("last_heartbeat", UTCDateTime, nullable=False),
        sa.Column("tweets_received", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text),
        **MYSQL_TABLE_ARGS,
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", AutoId, primary_key=True),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("reason", LongText, nullable=False),
        sa.Column("payload", Blob, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        **MYSQL_TABLE_ARGS,
    )
    op.create_index("ix_dead_letters_received_at", "dead_letters", ["received_at"])


def downgrade() -> None:
    for name in (
        "dead_letters",
        "stream_processes",
        "api_keys",
        "filter_terms",
        "tweet_deletions",
        "tweet_mentions",
        "tweet_hashtags",
        "twitter_users",
        load_tweet_model().__table__.name,  # type: ignore[attr-defined]
    ):
        op.drop_table(name)
