"""Active-only fan-out (TWEETFEED_ACTIVE_DAYS): a follower feed not read lately gets no fan-out
writes, and its next read regenerates it from SQL exactly as fan-out would have written it.
A worker of the test's own, with the setting, on a Redis database of its own."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pipeline.feeds import ids
from pipeline.feeds.read import FlatFeed, get_feed
from tests.conftest import Database, Pipeline
from tests.factories import line, v1_tweet
from tests.scenario import BOB, CAROL, T0, follow_many, listen, own_pipeline, stream

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)
FOLLOWED = ("user:2", "user:3", "hashtag:python")


def items(p: Pipeline, feed: str) -> list[tuple[str, str]]:
    """What a read of ``feed`` shows: each activity's foreign id and time."""
    found = get_feed(feed, p.runtime())
    assert isinstance(found, FlatFeed)
    return [(a.foreign_id, a.time.isoformat()) for a in found[:]]


def held(p: Pipeline, feed: str) -> int:
    return int(p.redis.zcard(ids.redis_key(feed)))


def test_feeds_not_read_lately_get_no_writes_and_are_regenerated_exactly(
    db: Database, tmp_path: Path
) -> None:
    with own_pipeline(db, tmp_path, "active", ACTIVE_DAYS="2", FANOUT_CHUNK_SIZE="1") as p:
        client = p.redis
        # timeline:10 is read (active); timeline:11 follows the same feeds and is never read.
        # With chunks of one feed, every fan-out to a follower is a chunk task.
        follow_many(p, [(f"timeline:{n}", t) for n in (10, 11) for t in FOLLOWED])
        assert items(p, "timeline:10") == []
        listen(p, stream())
        assert held(p, "timeline:10") == 5 and held(p, "timeline:11") == 0, "no writes to 11"
        assert not client.exists(ids.redis_key("timeline:11"))
        fanned_out = items(p, "timeline:10")
        assert [f for f, _ in fanned_out] == [f"tweet:{i}" for i in (105, 104, 103, 102, 101)]
        assert items(p, "timeline:11") == fanned_out, "regenerated from SQL on its read"

        # Both are active now: both get the next tweet.
        listen(p, [line(v1_tweet(107, "both", BOB, timestamp_ms=T0 + 7000))])
        assert (held(p, "timeline:10"), held(p, "timeline:11")) == (6, 6)
        # Three days pass for timeline:11 (its last read is moved back): it is dropped and
        # gets nothing, and comes back whole, the new tweet included, on its next read.
        client.zadd(ids.READS, {"timeline:11": (time.time() - 3 * 86_400) * 1000})
        listen(p, [line(v1_tweet(108, "only ten", CAROL, timestamp_ms=T0 + 8000))])
        assert held(p, "timeline:10") == 7 and not client.exists(ids.redis_key("timeline:11"))
        assert items(p, "timeline:11") == items(p, "timeline:10")
        assert held(p, "timeline:11") == 7

        # A page served by the cached page script records the read as well.
        client.zadd(ids.READS, {"timeline:10": 0})
        page = get_feed("timeline:10", p.runtime())
        assert isinstance(page, FlatFeed)
        page.read_page(5)  # fills the cache
        client.zadd(ids.READS, {"timeline:10": 0})
        assert page.cached_page(5) is not None
        assert (client.zscore(ids.READS, "timeline:10") or 0) > (time.time() - 60) * 1000
