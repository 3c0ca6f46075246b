"""Follower feeds live in Redis alone; SQL derives them from their targets' rows and the window
each follow took, and a rebuild from that derivation gives back exactly what fan-out wrote."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from models import FeedItem
from pipeline.bus.client import Client
from pipeline.feeds.read import FlatFeed, get_feed
from pipeline.feeds.rebuild import rebuild
from pipeline.runtime import Runtime
from tests.conftest import Pipeline, feed_key
from tests.factories import line, v1_tweet
from tests.feeds.test_feeds import redeclare_queues
from tests.scenario import BOB, CAROL, T0, follow_many, graph_and_stream, listen, send

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


def shown(rt: Runtime, feed: str) -> list[str]:
    found = get_feed(feed, rt)
    assert isinstance(found, FlatFeed)
    return [a.foreign_id for a in found[:]]


def sql_only(p: Pipeline) -> Runtime:
    rt = p.runtime()
    return replace(rt, settings=replace(rt.settings, feed_backend="sql"))


def test_fan_out_writes_rows_for_origin_feeds_only(pipeline: Pipeline) -> None:
    graph_and_stream(pipeline)
    with pipeline.db.sessions() as session:
        feeds = set(session.scalars(select(FeedItem.feed).distinct()))
    assert feeds == {"user:1", "user:2", "user:3", "user:4", "hashtag:python", "term:9",
                     "notification:1", "notification:2", "notification:3"}  # fmt: skip
    redis_timeline = pipeline.redis.zrange(feed_key(pipeline.redis, "timeline:1"), 0, -1)
    assert len(redis_timeline) == 4, "the follower feed is in Redis"
    assert shown(sql_only(pipeline), "timeline:1") == shown(pipeline.runtime(), "timeline:1")


def test_a_follow_window_survives_a_rebuild_late_arrivals_included(pipeline: Pipeline) -> None:
    graph_and_stream(pipeline)
    send(pipeline, "tweetfeed.follow", feed="timeline:9", target="user:2", backfill=1)
    # Stored after the follow but timed before the backfilled tweet: fan-out delivers it.
    listen(pipeline, [line(v1_tweet(107, "late", BOB, timestamp_ms=T0 + 500))])
    send(pipeline, "tweetfeed.follow", feed="timeline:8", target="user:2", backfill=0)
    listen(pipeline, [line(v1_tweet(108, "new", BOB, timestamp_ms=T0 + 9000))])
    expected = {
        "timeline:9": ["tweet:108", "tweet:105", "tweet:107"],
        "timeline:8": ["tweet:108"],
        "timeline:1": ["tweet:108", "tweet:105", "tweet:103", "tweet:102", "tweet:101",
                       "tweet:107"],
    }  # fmt: skip
    for rt in (pipeline.runtime(), sql_only(pipeline)):
        assert {feed: shown(rt, feed) for feed in expected} == expected
    pipeline.redis.flushdb()
    redeclare_queues(pipeline)
    counts = rebuild(pipeline.runtime())
    assert counts["timeline:9"] == 3 and counts["timeline:8"] == 1
    assert {feed: shown(pipeline.runtime(), feed) for feed in expected} == expected


def test_unfollowing_takes_out_of_redis_what_sql_no_longer_derives(pipeline: Pipeline) -> None:
    graph_and_stream(pipeline)
    send(pipeline, "tweetfeed.unfollow", feed="timeline:1", target="user:3")
    assert shown(pipeline.runtime(), "timeline:1") == ["tweet:105", "tweet:101"]
    assert shown(sql_only(pipeline), "timeline:1") == ["tweet:105", "tweet:101"]
    members = pipeline.redis.zrange(feed_key(pipeline.redis, "timeline:1"), 0, -1)
    assert len(members) == 2


def test_unfollowing_with_keep_history_leaves_the_feed_what_it_held(pipeline: Pipeline) -> None:
    """stream-django's ``keep_history``: the target's items stay, in Redis and in SQL (so a
    rebuild gives them back), and nothing newer of the target arrives; a celebrity's items,
    merged at read time until then, stay too."""
    graph_and_stream(pipeline)
    follow_many(pipeline, [(f"timeline:{n}", "user:3") for n in range(10, 15)])  # a celebrity
    held = ["tweet:105", "tweet:103", "tweet:102", "tweet:101"]
    assert shown(pipeline.runtime(), "timeline:1") == held
    assert shown(pipeline.runtime(), "timeline:10") == ["tweet:103", "tweet:102"]
    send(pipeline, "tweetfeed.unfollow", feed="timeline:1", target="user:3", keep_history=True)
    with Client(pipeline.broker_url) as client:
        client.unfollow("timeline:10", "user:3", keep_history=True)
        client.unfollow("timeline:11", "user:3")
    pipeline.wait_settled()
    listen(pipeline, [line(v1_tweet(109, "after the unfollow", CAROL, timestamp_ms=T0 + 9000))])
    expected = {"timeline:1": held, "timeline:10": ["tweet:103", "tweet:102"], "timeline:11": [],
                "timeline:12": ["tweet:109", "tweet:103", "tweet:102"]}  # fmt: skip
    for rt in (pipeline.runtime(), sql_only(pipeline)):
        assert {feed: shown(rt, feed) for feed in expected} == expected
    pipeline.redis.flushdb()
    redeclare_queues(pipeline)
    rebuild(pipeline.runtime())
    assert {feed: shown(pipeline.runtime(), feed) for feed in expected} == expected


def test_unfollow_user_leaves_both_news_feeds(pipeline: Pipeline) -> None:
    graph_and_stream(pipeline)
    with Client(pipeline.broker_url) as client:
        client.unfollow_user("1", "3")
    pipeline.wait_settled()
    assert shown(pipeline.runtime(), "timeline:1") == ["tweet:105", "tweet:101"]
    groups = get_feed("timeline_aggregated:1", pipeline.runtime())[:]
    assert {a.actor for g in groups for a in g.activities} == {"user:2"}
