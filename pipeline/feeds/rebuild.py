"""Rebuild Redis feeds from SQL after a loss, for every feed or some: rows for what was written
to a feed directly, and its targets' windows for what it got by following them."""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.feeds import falloff, follows, ids
from pipeline.feeds.storage import copies
from pipeline.feeds.storage.redis import RedisFeedStore
from pipeline.feeds.storage.sql import SqlFeedStore
from pipeline.runtime import Runtime


def rebuild_feed(rt: Runtime, sql: SqlFeedStore, cache: RedisFeedStore, feed: str) -> int:
    """Copy ``feed`` from SQL into Redis; return how many items it holds."""
    items = falloff.keep(rt, sql.session, feed, sql.all_items(feed))
    cache.replace(feed, items)
    return len(items)


def rebuild(rt: Runtime, feeds: Sequence[str] = ()) -> dict[str, int]:
    """Recompute the celebrity set, then write the listed feeds (if none, every feed with rows
    or follows) into Redis from SQL; return each feed's item count."""
    cache = copies.redis_feeds(rt)
    counts: dict[str, int] = {}
    with rt.sessions() as session:
        follows.recompute_celebrities(session, rt.redis, rt.settings.celebrity_threshold)
        sql = copies.sql(rt, session)
        every = sorted({*sql.feeds(), *follows.following_feeds(session)})
        for feed in feeds or every:
            counts[feed] = rebuild_feed(rt, sql, cache, ids.check(feed))
    return counts
