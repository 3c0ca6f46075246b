"""The two copies of every feed: SQL (durable, written in the transaction) and Redis (the cache,
written once that transaction commits).

SQL holds the rows of items written to a feed directly and derives feeds that follow others
(``sql``); Redis holds every feed whole, fan-out included.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from sqlalchemy.orm import Session

from pipeline.feeds import follows, ids
from pipeline.feeds.storage.base import Item, MaxLength, Source
from pipeline.feeds.storage.redis import RedisFeedStore
from pipeline.feeds.storage.redis_cluster import ClusterFeedStore
from pipeline.feeds.storage.sql import SqlFeedStore
from pipeline.runtime import Runtime
from pipeline.store import redis_client


def max_length(rt: Runtime) -> MaxLength:
    """Items kept per feed, under ``rt``'s settings."""
    return partial(ids.max_length, settings=rt.settings)


def sql(rt: Runtime, session: Session) -> SqlFeedStore:
    """The durable copy, inside ``session``'s transaction: a feed that follows others is
    derived from its targets (celebrities aside: reads merge them in)."""
    found: dict[str, list[Source]] = {}
    famous: set[str] | None = None  # read from Redis once, at the first derived read

    def sources(feed: str) -> list[Source]:
        nonlocal famous
        if feed not in found:
            if famous is None:
                famous = follows.celebrities(session, rt.redis, rt.settings.celebrity_threshold)
            found[feed] = follows.sources(session, feed, famous)
        return found[feed]

    return SqlFeedStore(session, max_length(rt), sources)


def rows(rt: Runtime, session: Session) -> SqlFeedStore:
    """The rows written to each feed directly, nothing derived: what a follow backfills from
    and what fan-out writes."""
    return SqlFeedStore(session, max_length(rt))


def cache(rt: Runtime) -> RedisFeedStore | None:
    """The Redis feeds, or None when feeds are read from SQL (FEED_BACKEND=sql)."""
    if rt.settings.feed_backend != "redis":
        return None
    return redis_feeds(rt)


def redis_feeds(rt: Runtime) -> RedisFeedStore:
    """The feeds in ``rt``'s Redis, one server or a cluster, whatever FEED_BACKEND says."""
    kind = ClusterFeedStore if redis_client.is_cluster(rt.redis) else RedisFeedStore
    return kind(rt.redis, max_length(rt), rt.settings.removal_memory_seconds)


def cache_add(rt: Runtime, entries: list[tuple[str, Item]]) -> None:
    """Write ``entries`` to the Redis feeds once the open transaction commits."""
    redis = cache(rt)
    if redis is not None and entries:
        rt.after_commit(partial(redis.add, entries))


def cache_remove(rt: Runtime, entries: list[tuple[str, int]], removed: Sequence[int] = ()) -> None:
    """Drop ``entries`` from the Redis feeds once the open transaction commits; ``removed``
    are activities deleted for good, recorded so that a late write of one is refused."""
    redis = cache(rt)
    if redis is not None and (entries or removed):
        rt.after_commit(partial(redis.remove, entries, list(removed)))
