"""SQLAlchemy 2 models: the tables that tests, dashboards and users query by name."""

from __future__ import annotations

import importlib
from datetime import datetime
from functools import cache
from typing import cast

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Table, Text, func
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from models.types import AutoId, Blob, ExactString, LongText, UTCDateTime

MYSQL_TABLE_ARGS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_unicode_ci"}


class Base(DeclarativeBase):
    pass


class AbstractTweet:
    """The columns every tweet table has. Subclass it (with ``Base``) to add columns of your own.

    Point ``TWEETFEED_TWEET_MODEL`` at ``package.module:YourTweet`` and the ingest path stores
    into your table. To fill your extra columns, define
    ``@classmethod extra_values(cls, record: dict) -> dict``: it receives the parsed record
    (``record["payload"]`` is the decoded JSON object) and returns column values.
    """

    __tablename__ = "tweets"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    author_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lang: Mapped[str | None] = mapped_column(String(16))
    in_reply_to_id: Mapped[int | None] = mapped_column(BigInteger)
    retweeted_id: Mapped[int | None] = mapped_column(BigInteger)
    quoted_id: Mapped[int | None] = mapped_column(BigInteger)
    source_format: Mapped[str] = mapped_column(String(4))
    # The payload exactly as received, lz4-compressed (pipeline.ingest.raw); jsonb would cap ingest
    # near 9k rows/s because the server parses and compresses every payload.
    raw: Mapped[bytes] = mapped_column(Blob, deferred=True)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[object, ...]:
        name = cls.__tablename__
        return (
            Index(f"ix_{name}_author_id", "author_id"),
            Index(f"ix_{name}_created_at", "created_at"),
            MYSQL_TABLE_ARGS,
        )


class Tweet(AbstractTweet, Base):
    """The default tweet table, ``tweets``."""


class TwitterUser(Base):
    """The latest profile seen of an author (newer observations replace older ones)."""

    __tablename__ = "twitter_users"
    __table_args__ = (Index("ix_twitter_users_screen_name", "screen_name"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    screen_name: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(200))
    followers_count: Mapped[int | None] = mapped_column(BigInteger)
    following_count: Mapped[int | None] = mapped_column(BigInteger)
    verified: Mapped[bool | None] = mapped_column(Boolean)
    profile_image_url: Mapped[str | None] = mapped_column(Text)
    profile_at: Mapped[datetime] = mapped_column(UTCDateTime)


class TweetHashtag(Base):
    __tablename__ = "tweet_hashtags"
    __table_args__ = (Index("ix_tweet_hashtags_tag", "tag"), MYSQL_TABLE_ARGS)

    tweet_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    tag: Mapped[str] = mapped_column(ExactString(191), primary_key=True)


class TweetMention(Base):
    __tablename__ = "tweet_mentions"
    __table_args__ = (Index("ix_tweet_mentions_user_id", "user_id"), MYSQL_TABLE_ARGS)

    tweet_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class TweetDeletion(Base):
    """A delete notice, kept so that a delete arriving before its tweet still wins."""

    __tablename__ = "tweet_deletions"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    tweet_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FilterTerm(Base):
    __tablename__ = "filter_terms"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True)
    term: Mapped[str] = mapped_column(ExactString(512), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())


class ApiKey(Base):
    """Credentials for the X API. ``repr()`` never shows a secret."""

    __tablename__ = "api_keys"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True)
    name: Mapped[str] = mapped_column(ExactString(191), unique=True)
    bearer_token: Mapped[str | None] = mapped_column(Text)
    api_key: Mapped[str | None] = mapped_column(Text)
    api_secret: Mapped[str | None] = mapped_column(Text)
    access_token: Mapped[str | None] = mapped_column(Text)
    access_token_secret: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())

    def __repr__(self) -> str:
        return f"ApiKey(id={self.id!r}, name={self.name!r}, secrets=***)"


class StreamProcess(Base):
    """One listener process: its heartbeat, state and counts, for the status page."""

    __tablename__ = "stream_processes"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    keys_name: Mapped[str | None] = mapped_column(String(191))
    state: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_heartbeat: Mapped[datetime] = mapped_column(UTCDateTime)
    tweets_received: Mapped[int] = mapped_column(BigInteger, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class DeadLetter(Base):
    """A record that could not be stored, with the reason, kept for a person to look at."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_received_at", "received_at"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True)
    source: Mapped[str] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(LongText)
    payload: Mapped[bytes] = mapped_column(Blob)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Hash of source, reason and payload: replaying a batch must not add a second row.
    digest: Mapped[str] = mapped_column(String(64), unique=True)


class Activity(Base):
    """Something an actor did, stored once; feeds hold its id. ``extra`` and ``to_feeds`` are JSON.

    ``foreign_id`` makes adding the same activity twice a no-op (an app's own id, or
    ``tweet:<id>`` for ingested tweets).
    """

    __tablename__ = "activities"
    __table_args__ = (Index("ix_activities_actor", "actor"), MYSQL_TABLE_ARGS)

    id: Mapped[int] = mapped_column(AutoId, primary_key=True)
    actor: Mapped[str] = mapped_column(ExactString(191))
    verb: Mapped[str] = mapped_column(String(32))
    object: Mapped[str] = mapped_column(ExactString(191))
    target: Mapped[str | None] = mapped_column(ExactString(191))
    time: Mapped[datetime] = mapped_column(UTCDateTime)
    foreign_id: Mapped[str] = mapped_column(ExactString(191), unique=True)
    to_feeds: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[str | None] = mapped_column(LongText)


class Follow(Base):
    """A feed that follows a target feed: what the target gets, the feed gets too.

    Which of the target's items the feed holds is recorded here, so the feed can be derived
    from SQL exactly: every item newer than (``after_score``, ``after_id``), the first one the
    follow's backfill left out, plus every activity stored after the follow (id above
    ``watermark``). Both are null when the backfill took everything.
    """

    __tablename__ = "follows"
    __table_args__ = (Index("ix_follows_target", "target", "feed"), MYSQL_TABLE_ARGS)

    feed: Mapped[str] = mapped_column(ExactString(191), primary_key=True)
    target: Mapped[str] = mapped_column(ExactString(191), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    after_score: Mapped[int | None] = mapped_column(BigInteger)
    after_id: Mapped[int | None] = mapped_column(BigInteger)
    watermark: Mapped[int | None] = mapped_column(BigInteger)


class FeedItem(Base):
    """Items written to a feed directly (its actor's and ``to`` activities, broadcasts).

    Feeds that follow others are not stored here: their items are derived from their targets'
    rows and ``follows`` (see ``pipeline.feeds.storage.sql``), as Redis holds them.
    """

    __tablename__ = "feed_items"
    __table_args__ = (
        Index("ix_feed_items_order", "feed", "score", "activity_id"),
        Index("ix_feed_items_activity_id", "activity_id"),
        MYSQL_TABLE_ARGS,
    )

    feed: Mapped[str] = mapped_column(ExactString(191), primary_key=True)
    activity_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    score: Mapped[int] = mapped_column(BigInteger)


class FeedMark(Base):
    """How far a notification feed has been seen or read: ``seen``/``read`` for all groups,
    ``seen:<group>``/``read:<group>`` for one, each with the latest score it covered."""

    __tablename__ = "feed_marks"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    feed: Mapped[str] = mapped_column(ExactString(191), primary_key=True)
    mark: Mapped[str] = mapped_column(ExactString(64), primary_key=True)
    score: Mapped[int] = mapped_column(BigInteger)


class FeedFilter(Base):
    """What a user keeps out of their timelines and notifications (``pipeline.feeds.filters``):
    ``mute`` or ``block`` a user id, or a muted ``word``."""

    __tablename__ = "feed_filters"
    __table_args__ = (MYSQL_TABLE_ARGS,)

    owner: Mapped[str] = mapped_column(ExactString(150), primary_key=True)
    kind: Mapped[str] = mapped_column(ExactString(8), primary_key=True)
    value: Mapped[str] = mapped_column(ExactString(150), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())


def table_of(model: type) -> Table:
    """The Core table of a mapped class, typed as one."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


@cache
def load_tweet_model() -> type[AbstractTweet]:
    """The tweet class in use: ``TWEETFEED_TWEET_MODEL`` if set, else :class:`Tweet`."""
    from pipeline.settings import get_settings

    dotted = get_settings().tweet_model
    if dotted is None:
        return Tweet
    module_name, _, attr = dotted.partition(":")
    model = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(model, type) and issubclass(model, AbstractTweet)):
        raise TypeError(f"TWEETFEED_TWEET_MODEL={dotted!r} is not a subclass of AbstractTweet")
    return model
