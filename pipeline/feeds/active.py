"""Active-only fan-out (Mastodon's): with TWEETFEED_ACTIVE_DAYS set, a feed that follows others
and has not been read for that many days gets no fan-out writes, and its Redis copy is dropped.

Every read records when it happened (a sorted set beside the feeds, ``ids.READS``; the cached
page script records its own). Fan-out leaves out the follower feeds whose last read is older
than the setting, or that were never read, and drops their copies; the next read finds the feed
missing and copies it from SQL, which derives a follower feed exactly from its follows and its
targets' rows: the same items fan-out would have written. Origin feeds (``user:``, ``hashtag:``,
``notification:``, ``to`` feeds) are always written.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from pipeline.feeds import ids
from pipeline.runtime import Runtime

DAY_MS = 86_400_000


def _now_ms() -> int:
    return int(time.time() * 1000)


def touch(rt: Runtime, feed: str) -> None:
    """Record that ``feed`` is being read (when active-only fan-out is on)."""
    if rt.settings.active_days is not None:
        rt.redis.zadd(ids.READS, {feed: _now_ms()})


def inactive(rt: Runtime, feeds: Iterable[str]) -> set[str]:
    """Those of ``feeds`` not read within ACTIVE_DAYS (none when the setting is off)."""
    days = rt.settings.active_days
    wanted = sorted(set(feeds))
    if days is None or not wanted:
        return set()
    cutoff = _now_ms() - days * DAY_MS
    scores = rt.redis.zmscore(ids.READS, wanted)
    return {f for f, s in zip(wanted, scores, strict=True) if s is None or s < cutoff}
