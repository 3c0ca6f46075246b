"""Rebuild Redis feeds from their durable copy in SQL: after a loss, for every feed or some."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.feeds import follows, ids
from pipeline.feeds.storage import copies
from pipeline.feeds.storage.redis import RedisFeedStore
from pipeline.feeds.storage.sql import SqlFeedStore
from pipeline.runtime import Runtime


def rebuild_feed(sql: SqlFeedStore, cache: RedisFeedStore, feed: str) -> int:
    """Copy ``feed`` from SQL into Redis; return how many items it holds."""
    items = sql.all_items(feed)
    cache.replace(feed, items)
    return len(items)


def rebuild(rt: Runtime, feeds: Sequence[str] = ()) -> dict[str, int]:
    """Copy the listed feeds (every feed SQL holds, if none) into Redis, and recompute the
    celebrity set; return each feed's item count."""
    cache = RedisFeedStore(rt.redis, copies.max_length(rt))
    counts: dict[str, int] = {}
    with rt.sessions() as session:
        sql = copies.sql(rt, session)
        for feed in feeds or list(sql.feeds()):
            counts[feed] = rebuild_feed(sql, cache, ids.check(feed))
        follows.recompute_celebrities(session, rt.redis, rt.settings.celebrity_threshold)
    return counts
