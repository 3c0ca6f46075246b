"""Feeds end to end: a follow graph and a replayed stream through ``tweetfeed listen`` and a real
Celery worker (PostgreSQL, Redis), with exact expectations for every kind of feed.

The worker runs with FANOUT_CHUNK_SIZE=2 and CELEBRITY_THRESHOLD=5 (see conftest), so three
followers make a chunked fan-out and six make a celebrity.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from kombu import Connection
from sqlalchemy import func, select

from models import Activity, DeadLetter, FeedItem
from pipeline.bus.routes import QUEUES
from pipeline.bus.sender import queue
from pipeline.feeds.read import AggregatedFeed, FlatFeed, NotificationFeed, get_feed
from pipeline.feeds.readers import get_news_feeds, get_notification_feed, get_user_feed
from pipeline.ingest.request import IngestRequest
from pipeline.ingest.service import ingest
from pipeline.runtime import Runtime
from tests.conftest import Pipeline, feed_key
from tests.factories import line, v1_delete, v1_retweet, v1_tweet
from tests.helpers import tweetfeed
from tests.scenario import (
    BOB,
    T0,
    follow_many,
    graph_and_stream,
    listen,
    send,
    stream,
)

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


def tweets(p: Pipeline, feed: str) -> list[int]:
    """The tweet ids of a flat feed's activities, newest first."""
    found = get_feed(feed, p.runtime())
    assert isinstance(found, FlatFeed)
    return [int(a.foreign_id.split(":")[1]) for a in found[:]]


def groups(p: Pipeline, feed: str) -> list[tuple[str, str, list[str]]]:
    found = get_feed(feed, p.runtime())
    assert isinstance(found, AggregatedFeed)
    return [(g.verb, g.object, g.actors) for g in found[:]]


def notifications(p: Pipeline, user: int) -> NotificationFeed:
    found = get_feed(f"notification:{user}", p.runtime())
    assert isinstance(found, NotificationFeed)
    return found


def foreign_ids(p: Pipeline, feed: str) -> list[str]:
    """The foreign ids a feed shows, whatever its type: group by group for aggregated ones."""
    found = get_feed(feed, p.runtime())
    if isinstance(found, AggregatedFeed):
        return [a.foreign_id for g in found[:] for a in g.activities]
    return [a.foreign_id for a in found[:]]


EXPECTED_FLAT = {
    "user:1": [106],
    "user:2": [105, 101],
    "user:3": [103, 102],
    "user:4": [104],
    "timeline:1": [105, 103, 102, 101],
    "timeline:4": [104, 103, 101],
    "hashtag:python": [104, 103, 101],
    "term:9": [105],
}


def test_a_replayed_stream_reaches_exactly_the_feeds_it_should(pipeline: Pipeline) -> None:
    graph_and_stream(pipeline)
    assert {feed: tweets(pipeline, feed) for feed in EXPECTED_FLAT} == EXPECTED_FLAT
    assert groups(pipeline, "timeline_aggregated:1") == [
        ("tweet", "tweet:105", ["user:2"]),
        ("retweet", "tweet:101", ["user:3"]),
        ("tweet", "tweet:102", ["user:3"]),
        ("tweet", "tweet:101", ["user:2"]),
    ]
    assert groups(pipeline, "notification:1") == [("tweet", "tweet:102", ["user:3"])]
    assert groups(pipeline, "notification:2") == [("retweet", "tweet:101", ["user:4", "user:3"])]
    assert groups(pipeline, "notification:3") == [("reply", "tweet:106", ["user:1"])]


def test_reads_are_enriched_lazy_sliceable_and_paged_by_cursor(pipeline: Pipeline) -> None:
    graph_and_stream(pipeline)
    timeline = get_feed("timeline:1", pipeline.runtime())
    assert isinstance(timeline, FlatFeed)
    assert len(timeline) == 4
    newest = timeline[0]
    assert (newest.verb, newest.object_data["text"]) == ("tweet", "streams are fun")
    assert newest.actor_data["screen_name"] == "user2"
    retweet = timeline[1]
    assert (retweet.verb, retweet.object, retweet.object_data["text"]) == (
        "retweet", "tweet:101", "hello #Python")  # fmt: skip
    assert [a.id for a in timeline[1:3]] == [a.id for a in list(timeline)[1:3]]
    assert timeline[-1].foreign_id == "tweet:101"
    first = timeline.page(2)
    rest = timeline.page(2, before=first[-1].id)
    assert [a.foreign_id for a in first + rest] == [f"tweet:{i}" for i in (105, 103, 102, 101)]
    assert [a.foreign_id for a in timeline.page(1, after=rest[0].id)] == ["tweet:103"]


def test_the_feed_manager_readers_name_each_users_feeds(pipeline: Pipeline) -> None:
    graph_and_stream(pipeline)
    rt = pipeline.runtime()
    own = get_user_feed(BOB, rt)
    assert [a.foreign_id for a in own[:]] == ["tweet:105", "tweet:101"]
    assert own[0].content == "streams are fun"
    assert own[0].created_at == datetime.fromtimestamp((T0 + 5000) / 1000, UTC)
    news = get_news_feeds(1, rt)
    assert sorted(news) == ["timeline", "timeline_aggregated"]
    assert isinstance(news["timeline"], FlatFeed)
    assert [a.foreign_id for a in news["timeline"][:]] == [
        f"tweet:{i}" for i in (105, 103, 102, 101)
    ]
    assert isinstance(news["timeline_aggregated"], AggregatedFeed)
    assert len(news["timeline_aggregated"]) == 4
    assert get_notification_feed(BOB, rt).counts() == {"unseen": 1, "unread": 1}


def test_notification_groups_are_seen_and_read_until_a_new_activity_joins_them(
    pipeline: Pipeline,
) -> None:
    graph_and_stream(pipeline)
    feed = notifications(pipeline, BOB)
    assert feed.counts() == {"unseen": 1, "unread": 1}
    feed.mark_seen()
    assert feed.counts() == {"unseen": 0, "unread": 1}
    feed.mark_read([feed[:][0].id])
    assert feed.counts() == {"unseen": 0, "unread": 0}
    original = v1_tweet(101, "hello #Python", BOB, timestamp_ms=T0 + 1000)
    listen(pipeline, [line(v1_retweet(107, original, 5, T0 + 7000))])
    (group,) = feed[:]
    assert (group.actor_count, group.activity_count) == (3, 3)
    assert (group.seen, group.read) == (False, False)
    assert feed.counts() == {"unseen": 1, "unread": 1}


def test_a_delete_notice_takes_the_tweet_out_of_every_feed_it_reached(
    pipeline: Pipeline,
) -> None:
    graph_and_stream(pipeline)
    listen(pipeline, [v1_delete(105, BOB)])
    assert tweets(pipeline, "user:2") == [101]
    assert tweets(pipeline, "timeline:1") == [103, 102, 101]
    assert tweets(pipeline, "term:9") == []
    assert ("tweet", "tweet:105", ["user:2"]) not in groups(pipeline, "timeline_aggregated:1")
    with pipeline.db.sessions() as session:
        assert session.scalar(select(Activity.id).where(Activity.foreign_id == "tweet:105")) is None
    redis_keys = list(pipeline.redis.scan_iter("tweetfeed:feed:*"))
    members = {m for k in redis_keys for m in pipeline.redis.zrange(k, 0, -1)}
    assert len(members) == 5, "the five remaining tweets, and no trace of 105 in Redis"


def test_following_backfills_and_unfollowing_removes_only_what_came_from_the_target(
    pipeline: Pipeline,
) -> None:
    graph_and_stream(pipeline)
    send(pipeline, "tweetfeed.follow", feed="timeline:4", target="user:3")
    assert tweets(pipeline, "timeline:4") == [104, 103, 102, 101]
    send(pipeline, "tweetfeed.unfollow", feed="timeline:4", target="hashtag:python")
    assert tweets(pipeline, "timeline:4") == [103, 102], "103 stays: user:3 is still followed"
    send(pipeline, "tweetfeed.follow", feed="timeline:9", target="user:2", backfill=1)
    assert tweets(pipeline, "timeline:9") == [105]


def author_stream(author: int, first_id: int, count: int, offset_ms: int) -> list[bytes]:
    return [
        line(v1_tweet(first_id + n, f"post {n}", author, timestamp_ms=T0 + offset_ms + n * 2000))
        for n in range(count)
    ]


def test_a_celebrity_is_merged_at_read_time_into_the_same_page_a_full_fan_out_gives(
    pipeline: Pipeline,
) -> None:
    fans = [(f"timeline:{70 + n}", "user:51") for n in range(6)]
    chunked = [(f"timeline:{60 + n}", "user:50") for n in range(3)]
    follow_many(pipeline, [*fans, *chunked, ("timeline:70", "user:50")])
    listen(pipeline, author_stream(50, 500, 5, 0) + author_stream(51, 510, 5, 1000))
    everything = [514, 504, 513, 503, 512, 502, 511, 501, 510, 500]
    assert tweets(pipeline, "timeline:70") == everything
    assert tweets(pipeline, "timeline:75") == everything[::2]
    assert tweets(pipeline, "timeline:62") == everything[1::2], "three followers: chunked"
    stored = pipeline.redis.zrange(feed_key(pipeline.redis, "timeline:70"), 0, -1)
    assert len(stored) == 5, "only user:50's tweets were written; user:51's are merged on read"
    timeline = get_feed("timeline:70", pipeline.runtime())
    assert isinstance(timeline, FlatFeed)
    first = timeline.page(3)
    second = timeline.page(3, before=first[-1].id)
    assert [a.foreign_id for a in first + second] == [f"tweet:{i}" for i in everything[:6]]
    assert len(timeline) == 10


def everything_readable(p: Pipeline, rt: Runtime | None = None) -> dict[str, Any]:
    rt = rt or p.runtime()
    found: dict[str, Any] = {}
    for feed in [*EXPECTED_FLAT, "timeline:70", "timeline_aggregated:1", "notification:2"]:
        read = get_feed(feed, rt)
        if isinstance(read, AggregatedFeed):
            found[feed] = [(g.verb, g.object, g.actors, g.seen) for g in read[:]]
        else:
            found[feed] = [a.foreign_id for a in read[:]]
    return found


def redeclare_queues(p: Pipeline) -> None:
    """FLUSHDB also drops kombu's exchange bindings; declare them again for later tests."""
    with Connection(p.broker_url) as conn:
        for name in QUEUES:
            queue(name)(conn.default_channel).declare()


def test_after_redis_loses_everything_rebuild_and_reads_restore_the_same_feeds(
    pipeline: Pipeline,
) -> None:
    fans = [(f"timeline:{71 + n}", "user:51") for n in range(5)]
    follow_many(pipeline, [*fans, ("timeline:70", "user:51")])
    graph_and_stream(pipeline)
    listen(pipeline, author_stream(51, 510, 2, 1000))
    notifications(pipeline, 2).mark_seen()
    before = everything_readable(pipeline)
    pipeline.redis.flushdb()
    redeclare_queues(pipeline)
    result = tweetfeed("feeds", "rebuild", env=pipeline.env)
    assert result.returncode == 0, result.stderr.decode()
    assert b"rebuilt" in result.stdout
    assert pipeline.redis.exists(feed_key(pipeline.redis, "timeline:1"))
    assert everything_readable(pipeline) == before
    pipeline.redis.flushdb()
    redeclare_queues(pipeline)
    assert everything_readable(pipeline) == before, "a read rebuilds what it finds missing"
    sql_only = replace(pipeline.runtime(), settings=replace(pipeline.runtime().settings,
                                                           feed_backend="sql"))  # fmt: skip
    pipeline.redis.delete(*list(pipeline.redis.scan_iter("tweetfeed:feed:*")))
    assert everything_readable(pipeline, sql_only) == before, "the SQL backend reads the same"
    assert not list(pipeline.redis.scan_iter("tweetfeed:feed:*")), "and never touches Redis feeds"


class NoSends:
    def send(self, name: str, kwargs: dict[str, Any], queue: str | None = None) -> str:
        pytest.fail("nothing may be sent")


def test_with_fan_out_disabled_ingest_stores_tweets_and_nothing_else(
    pipeline: Pipeline,
) -> None:
    settings = replace(pipeline.runtime().settings, disable_fanout=True)
    rt = Runtime(pipeline.db.sessions, pipeline.redis, settings, sender=NoSends())
    lines = [x.decode() for x in stream()]
    result = ingest(rt, IngestRequest.parse({"lines": lines, "source": "test"}))
    assert result is not None and len(result.new_ids) == 6
    with pipeline.db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Activity)) == 0
        assert session.scalar(select(func.count()).select_from(FeedItem)) == 0
    assert not list(pipeline.redis.scan_iter("tweetfeed:feed:*"))


def test_apps_add_and_remove_activities_once_per_foreign_id(pipeline: Pipeline) -> None:
    follow_many(pipeline, [("timeline:7", "user:42")])
    like = {"actor": "user:42", "verb": "like", "object": "tweet:123", "foreign_id": "like:1",
            "to": ["notification:9"], "time": "2026-11-21T10:00:00Z"}  # fmt: skip
    send(pipeline, "tweetfeed.add_activity", **like)
    send(pipeline, "tweetfeed.add_activity", **like)
    for feed in ("user:42", "timeline:7", "notification:9"):
        assert foreign_ids(pipeline, feed) == ["like:1"]
    with pipeline.db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Activity)) == 1
    send(pipeline, "tweetfeed.remove_activity", foreign_id="like:1")
    for feed in ("user:42", "timeline:7", "notification:9"):
        assert foreign_ids(pipeline, feed) == []
    with pipeline.db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(FeedItem)) == 0


def test_a_broadcast_reaches_every_listed_feed_in_chunks(pipeline: Pipeline) -> None:
    feeds = [f"notification:{n}" for n in range(5)]
    message = {"actor": "user:0", "verb": "message", "object": "message:1",
               "extra": {"content": "You have a new message!"}}  # fmt: skip
    send(pipeline, "tweetfeed.broadcast", activity=message, feeds=feeds)
    for feed in feeds:
        (g,) = get_feed(feed, pipeline.runtime())[:]
        assert g.activities[0].extra == {"content": "You have a new message!"}
        assert g.activities[0].content == "You have a new message!"


def test_bad_payloads_from_other_apps_are_dead_lettered_with_the_reason(
    pipeline: Pipeline,
) -> None:
    send(pipeline, "tweetfeed.add_activity", actor="user:1", object="tweet:2")
    send(pipeline, "tweetfeed.follow", feed="timeline:1", target="not a feed")
    send(pipeline, "tweetfeed.remove_activity", foreign_id="x", activity_id=3)
    send(pipeline, "tweetfeed.broadcast", activity={"actor": "user:1"}, feeds=["user:2"])
    send(pipeline, "tweetfeed.add_activity", actor="user:1", verb="like", object="tweet:2")
    with pipeline.db.sessions() as session:
        rows = session.execute(select(DeadLetter.source, DeadLetter.reason).order_by(DeadLetter.id))
        reasons = [tuple(r) for r in rows]
    assert reasons == [
        ("task:tweetfeed.add_activity", "bad payload: missing fields: verb"),
        ("task:tweetfeed.follow", "bad payload: 'target': 'not a feed' is not a feed id "
         "(slug:key; key of letters, digits, '_' and '-')"),
        ("task:tweetfeed.remove_activity",
         "bad payload: exactly one of 'foreign_id' and 'activity_id' is required"),
        ("task:tweetfeed.broadcast", "bad payload: missing fields: object, verb"),
    ]  # fmt: skip
    assert len(foreign_ids(pipeline, "user:1")) == 1, "the good task after them ran"


def test_out_of_range_numbers_in_payloads_are_dead_lettered_not_raised(
    pipeline: Pipeline,
) -> None:
    good = line(v1_tweet(950)).decode()
    send(pipeline, "tweetfeed.ingest_batch", lines=[good], received_at=1e300)
    send(pipeline, "tweetfeed.ingest_batch", lines=[good], received_at=-1e12)
    send(pipeline, "tweetfeed.ingest_batch", lines=[good], truncated=[[0, -5]])
    send(pipeline, "tweetfeed.ingest_batch", lines=[good], truncated=[[-1, 5]])
    send(pipeline, "tweetfeed.remove_activity", activity_id=10**30)
    send(pipeline, "tweetfeed.follow", feed="timeline:1", target="user:1", backfill=10**20)
    with pipeline.db.sessions() as session:
        rows = session.execute(select(DeadLetter.source, DeadLetter.reason, DeadLetter.payload)
                               .order_by(DeadLetter.id))  # fmt: skip
        found = [tuple(r) for r in rows]
    when = "bad payload: 'received_at' must be a number of seconds since the epoch, before the "
    cut = "bad payload: 'truncated' must be a list of [line index, full length] pairs, index "
    assert [(source, reason) for source, reason, _ in found] == [
        ("task:tweetfeed.ingest_batch", when + "year 10000"),
        ("task:tweetfeed.ingest_batch", when + "year 10000"),
        ("task:tweetfeed.ingest_batch", cut + "from 0, length above 0"),
        ("task:tweetfeed.ingest_batch", cut + "from 0, length above 0"),
        ("task:tweetfeed.remove_activity",
         "bad payload: 'activity_id' must be an integer from 0 to 2**63 - 1"),
        ("task:tweetfeed.follow", "bad payload: 'backfill' must be an integer from 0 to 1000"),
    ]  # fmt: skip
    assert str(10**20).encode() in found[-1][2], "the payload is kept whole"
    send(pipeline, "tweetfeed.ingest_batch", lines=[good])
    assert foreign_ids(pipeline, "user:7") == ["tweet:950"], "the good task after them ran"


def test_a_huge_bad_payload_is_dead_lettered_in_part_with_its_size(pipeline: Pipeline) -> None:
    send(pipeline, "tweetfeed.remove_activity", foreign_id="x" * 200_000, activity_id=1)
    with pipeline.db.sessions() as session:
        ((reason, payload),) = session.execute(select(DeadLetter.reason, DeadLetter.payload))
    assert reason.startswith("bad payload: exactly one of 'foreign_id' and 'activity_id'")
    assert reason.endswith("(200,033 bytes of JSON; the first 65,536 kept)")
    assert len(payload) == 65_536 and payload.startswith(b'{"foreign_id":"xxx')
