"""Retweet fall-off (Mastodon's reblog falloff): with TWEETFEED_RETWEET_FALLOFF=N, a retweet is
not put into a flat follower feed that already holds its original among its newest N items
(Mastodon uses 40), so a tweet many followees retweet shows once, not once per retweet.

Fan-out asks Redis where the original sits in each feed (one round trip for the batch), and
counts an original written by the same batch as there. A feed copied from SQL (its first read
in a Redis's life, a rebuild) gets the same rule over its items in time order, so a regenerated
feed matches a fanned-out one. Aggregated feeds keep every retweet: their groups count them.
Feeds read from SQL (FEED_BACKEND=sql) show every retweet.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from pipeline.feeds import activities, ids
from pipeline.feeds.activities import ActivityRecord
from pipeline.feeds.storage.base import Item
from pipeline.runtime import Runtime
from pipeline.store import redis_client

RETWEET = "retweet"


def _originals(session: Session, retweets: Sequence[ActivityRecord]) -> dict[str, int]:
    """The activity id of each retweeted tweet that is stored, by its reference."""
    objects = sorted({r.object for r in retweets if r.object.startswith("tweet:")})
    return {a.foreign_id: a.id for a in activities.by_foreign_id(session, objects)}


def skipped(
    rt: Runtime, session: Session, batch: Sequence[ActivityRecord],
    pairs: Sequence[tuple[str, int]],
) -> set[tuple[str, int]]:  # fmt: skip
    """Those (flat feed, activity id) writes of ``pairs`` that are retweets whose original the
    feed holds among its newest RETWEET_FALLOFF items, or that this batch writes there too."""
    falloff = rt.settings.retweet_falloff
    retweets = {a.id: a for a in batch if a.verb == RETWEET}
    if not falloff or not retweets:
        return set()
    originals = _originals(session, list(retweets.values()))
    checks: list[tuple[str, int, int]] = []  # (feed, retweet, original)
    for feed, activity_id in pairs:
        retweet = retweets.get(activity_id)
        original = originals.get(retweet.object) if retweet is not None else None
        if original is not None and ids.feed_type(feed) is ids.FeedType.FLAT:
            checks.append((feed, activity_id, original))
    if not checks:
        return set()
    written = set(pairs)
    pipe = rt.redis.pipeline(transaction=False)
    key = ids.key_for(redis_client.is_cluster(rt.redis))
    for feed, _, original in checks:
        pipe.zrevrank(key(feed), ids.member(original))
    ranks = pipe.execute()
    return {
        (feed, retweet)
        for (feed, retweet, original), rank in zip(checks, ranks, strict=True)
        if (rank is not None and rank < falloff) or (feed, original) in written
    }


def keep(rt: Runtime, session: Session, feed: str, items: list[Item]) -> list[Item]:
    """``items`` (newest first, as SQL gives a feed) less the retweets fan-out would have left
    out of ``feed``: each whose original is among the RETWEET_FALLOFF items kept before it."""
    falloff = rt.settings.retweet_falloff
    if not falloff or not items or ids.feed_type(feed) is not ids.FeedType.FLAT:
        return items
    loaded = activities.load(session, [i.activity_id for i in items])
    retweets = [a for a in loaded.values() if a.verb == RETWEET]
    if not retweets:
        return items
    originals = _originals(session, retweets)
    kept: list[Item] = []
    for item in reversed(items):  # oldest first, as fan-out met them
        record = loaded.get(item.activity_id)
        original = originals.get(record.object) if record and record.verb == RETWEET else None
        if original is not None and original in {i.activity_id for i in kept[-falloff:]}:
            continue
        kept.append(item)
    return kept[::-1]
