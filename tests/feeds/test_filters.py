"""Mute, block and muted words (``pipeline.feeds.filters``) through the public tasks, a real
worker, Redis and PostgreSQL: kept out at fan-out (notifications never made, chunks included),
hidden at read time (older items, a celebrity merged in, groups, the cached hot path), and given
back by an unmute."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from sqlalchemy import select

from models import Activity, FeedItem
from pipeline.bus.client import Client
from pipeline.feeds.read import AggregatedFeed, FlatFeed, NotificationFeed, get_feed
from pipeline.store.redis_client import is_cluster
from pipeline.web import fast
from tests.conftest import Pipeline, feed_key
from tests.feeds.test_feeds import author_stream
from tests.scenario import ALICE, BOB, CAROL, DAVE, follow_many, graph_and_stream, listen, send
from tests.web.test_web import AUTH, TOKEN, client_for

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


def shown(p: Pipeline, feed: str) -> list[str]:
    found = get_feed(feed, p.runtime())
    assert isinstance(found, FlatFeed)
    return [a.foreign_id for a in found[:]]


def in_redis(p: Pipeline, feed: str) -> list[str]:
    """The foreign ids of what the feed holds in Redis, newest first, without reading it."""
    found = [int(m) for m in p.redis.zrevrange(feed_key(p.redis, feed), 0, -1)]
    with p.db.sessions() as session:
        names = {i: f for i, f in session.execute(select(Activity.id, Activity.foreign_id))}
    return [names[i] for i in found]


def test_mutes_and_muted_words_keep_activities_out_at_fan_out_and_an_unmute_gives_them_back(
    pipeline: Pipeline,
) -> None:
    with Client(pipeline.broker_url) as client:
        client.mute(str(ALICE), str(CAROL))
        client.mute_words(str(ALICE), "FUN")
    pipeline.wait_settled()
    graph_and_stream(pipeline)
    assert len(in_redis(pipeline, "timeline:1")) == 1, "fan-out never wrote them"
    # A first read copies the feed from SQL (which derives it from the follows), and hides them.
    assert shown(pipeline, "timeline:1") == ["tweet:101"], "Carol's two and Bob's 'fun' one out"
    aggregated = get_feed("timeline_aggregated:1", pipeline.runtime())
    assert isinstance(aggregated, AggregatedFeed)
    assert [(g.verb, g.object) for g in aggregated[:]] == [("tweet", "tweet:101")]
    notes = get_feed("notification:1", pipeline.runtime())
    assert isinstance(notes, NotificationFeed) and notes[:] == []
    with pipeline.db.sessions() as session:
        rows = session.scalars(select(FeedItem.feed).where(FeedItem.feed == "notification:1"))
        assert list(rows) == [], "Carol's mention made no notification"
    assert shown(pipeline, "timeline:4") == ["tweet:104", "tweet:103", "tweet:101"], "others' own"

    send(pipeline, "tweetfeed.unfilter", user=str(ALICE), mute=[str(CAROL)])
    assert shown(pipeline, "timeline:1") == ["tweet:103", "tweet:102", "tweet:101"]
    send(pipeline, "tweetfeed.unfilter", user=ALICE, words=["fun"])
    assert shown(pipeline, "timeline:1") == ["tweet:105", "tweet:103", "tweet:102", "tweet:101"]
    assert len(in_redis(pipeline, "timeline:1")) == 4, "copied from SQL again on its read"


def test_a_block_hides_at_read_time_what_is_there_and_pages_count_only_what_is_shown(
    pipeline: Pipeline,
) -> None:
    graph_and_stream(pipeline)
    send(pipeline, "tweetfeed.filter", user=str(BOB), block=[str(DAVE)])
    (group,) = get_feed("notification:2", pipeline.runtime())[:]
    assert group.actors == ["user:3"], "Dave's retweet is hidden, Carol's stays"
    send(pipeline, "tweetfeed.filter", user=str(ALICE), block=[str(BOB)])
    timeline = get_feed("timeline:1", pipeline.runtime())
    assert isinstance(timeline, FlatFeed)
    # Bob's own tweets, and Carol's retweet of Bob's tweet (its object is Bob's), are out.
    assert [a.foreign_id for a in timeline[:]] == ["tweet:102"]
    assert len(timeline) == 1
    send(pipeline, "tweetfeed.unfilter", user=str(ALICE), block=[str(BOB)])
    send(pipeline, "tweetfeed.filter", user=str(ALICE), words=["streams", "hi"])
    first = timeline.page(1)
    second = timeline.page(1, before=first[0].id)
    assert [a.foreign_id for a in first + second] == ["tweet:103", "tweet:101"]
    assert [a.foreign_id for a in timeline.page(5, after=second[0].id)] == ["tweet:103"]
    assert [a.foreign_id for a in timeline[1:2]] == ["tweet:101"]
    with client_for(pipeline) as web:
        state = web.app.state.web  # type: ignore[attr-defined]
        routed = [web.get(f"/api/feeds/timeline/{key}").content for key in (1, 4)]  # fills
        if is_cluster(pipeline.redis):  # no fast path there: the cache's two calls
            feeds = [get_feed(f"timeline:{key}", pipeline.runtime()) for key in (1, 4)]
            cached = [isinstance(f, FlatFeed) and f.cached_page() is not None for f in feeds]
            assert cached == [False, True], "Alice's rules apply: SQL answers her timeline"
        else:
            pages = fast.Pages(state.rt.redis)
            hot = [asyncio.run(fast.cached_body(state, pages, f"/api/feeds/timeline/{key}", b""))
                   for key in (1, 4)]  # fmt: skip
            assert hot == [None, routed[1]], "Alice's rules apply: the route answers her timeline"
        shown_1 = [a["foreign_id"] for a in orjson.loads(routed[0])["activities"]]
        assert shown_1 == ["tweet:103", "tweet:101"]


def test_filters_reach_merged_celebrities_chunks_and_the_http_api(pipeline: Pipeline) -> None:
    fans = [(f"timeline:{70 + n}", "user:51") for n in range(6)]  # user:51 is a celebrity
    chunked = [(f"timeline:{60 + n}", "user:50") for n in range(3)]  # chunks of two
    follow_many(pipeline, [*fans, *chunked])
    send(pipeline, "tweetfeed.filter", user="61", words=["post 2"])
    send(pipeline, "tweetfeed.filter", user="70", words=["post 3"])
    listen(pipeline, author_stream(50, 500, 5, 0) + author_stream(51, 510, 5, 1000))
    everything = [f"tweet:{i}" for i in (504, 503, 502, 501, 500)]
    assert in_redis(pipeline, "timeline:61") == everything[:2] + everything[3:], "chunk: not 502"
    assert in_redis(pipeline, "timeline:60") == everything
    assert shown(pipeline, "timeline:60") == everything
    assert shown(pipeline, "timeline:61") == everything[:2] + everything[3:]
    assert shown(pipeline, "timeline:70") == [f"tweet:{i}" for i in (514, 512, 511, 510)]
    assert shown(pipeline, "timeline:71") == [f"tweet:{i}" for i in (514, 513, 512, 511, 510)]

    with client_for(pipeline, api_token=TOKEN) as web:
        listed = web.get("/api/filters/70").json()
        assert listed == {"mute": [], "block": [], "words": ["post 3"]}
        page = web.get("/api/feeds/timeline/70").json()["activities"]
        assert [a["foreign_id"] for a in page] == [f"tweet:{i}" for i in (514, 512, 511, 510)]
        refused = web.post("/api/filters/70", json={"mute": ["51"]})
        assert refused.status_code == 401
        queued = web.post("/api/filters/70", json={"mute": ["51"]}, headers=AUTH)
        assert queued.status_code == 202 and queued.json()["task"] == "tweetfeed.filter"
        pipeline.wait_settled()
        assert web.get("/api/feeds/timeline/70").json()["activities"] == []
        gone = web.post("/api/filters/70/remove", json={"mute": ["51"], "words": ["post 3"]},
                        headers=AUTH)  # fmt: skip
        assert gone.status_code == 202
        pipeline.wait_settled()
        assert web.get("/api/filters/70").json() == {"mute": [], "block": [], "words": []}
        assert len(web.get("/api/feeds/timeline/70").json()["activities"]) == 5
        assert web.post("/api/filters/70", json={}, headers=AUTH).status_code == 422
        assert (
            web.post("/api/filters/70", json={"words": ["\x00"]}, headers=AUTH).status_code == 422
        )
