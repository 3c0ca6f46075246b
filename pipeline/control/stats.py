"""Counts for people: rows per table and waiting tasks per queue."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import (
    Activity,
    DeadLetter,
    FeedItem,
    Follow,
    TweetDeletion,
    TweetHashtag,
    TwitterUser,
    load_tweet_model,
)
from pipeline.bus.routes import QUEUES


def row_counts(session: Session) -> dict[str, int]:
    tables = {
        "tweets": load_tweet_model().__table__,  # type: ignore[attr-defined]
        "twitter_users": TwitterUser.__table__,
        "tweet_hashtags": TweetHashtag.__table__,
        "tweet_deletions": TweetDeletion.__table__,
        "dead_letters": DeadLetter.__table__,
        "activities": Activity.__table__,
        "follows": Follow.__table__,
        "feed_items": FeedItem.__table__,
    }
    return {
        name: int(session.execute(select(func.count()).select_from(table)).scalar_one())
        for name, table in tables.items()
    }


def queue_depths(redis: Any) -> dict[str, int]:
    """Messages waiting per queue (the Redis broker keeps each queue as a list)."""
    pipe = redis.pipeline(transaction=False)
    for queue in QUEUES:
        pipe.llen(queue)
    return dict(zip(QUEUES, pipe.execute(), strict=True))
