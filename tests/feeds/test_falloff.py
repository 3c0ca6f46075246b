"""Retweet fall-off (TWEETFEED_RETWEET_FALLOFF): a retweet is not put into a timeline that holds
its original among its newest N items, at fan-out and when the feed is copied from SQL again.
A worker of the test's own, with N = 3, on a Redis database of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.feeds.read import AggregatedFeed, FlatFeed, get_feed
from pipeline.feeds.rebuild import rebuild
from tests.conftest import Database, Pipeline
from tests.factories import line, v1_retweet, v1_tweet
from tests.scenario import BOB, CAROL, DAVE, T0, follow_many, listen, own_pipeline

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


def shown(p: Pipeline, feed: str) -> list[int]:
    found = get_feed(feed, p.runtime())
    assert isinstance(found, FlatFeed)
    return [int(a.foreign_id.split(":")[1]) for a in found[:]]


def tweet(tweet_id: int, author: int, at: int) -> dict[str, object]:
    return v1_tweet(tweet_id, f"tweet {tweet_id}", author, timestamp_ms=T0 + at * 1000)


def test_a_retweet_of_a_tweet_among_the_newest_items_is_left_out(
    db: Database, tmp_path: Path
) -> None:
    with own_pipeline(db, tmp_path, "falloff", RETWEET_FALLOFF="3") as p:
        client = p.redis
        follow_many(p, [("timeline:20", f"user:{u}") for u in (BOB, CAROL, DAVE)]
                    + [("timeline_aggregated:20", f"user:{u}") for u in (BOB, CAROL, DAVE)]
                    + [("timeline:21", f"user:{CAROL}")])  # fmt: skip
        t101 = tweet(101, BOB, 1)
        listen(p, [line(t101)])
        listen(p, [line(v1_retweet(102, t101, CAROL, T0 + 2000))])
        assert shown(p, "timeline:20") == [101], "its original is the newest item"
        assert shown(p, "timeline:21") == [102], "a feed without the original gets it"
        assert shown(p, f"user:{CAROL}") == [102], "the retweeter's own feed keeps it"
        grouped = get_feed("timeline_aggregated:20", p.runtime())
        assert isinstance(grouped, AggregatedFeed)
        assert [(g.verb, g.object) for g in grouped[:]] == [("retweet", "tweet:101"),
                                                            ("tweet", "tweet:101")]  # fmt: skip

        listen(p, [line(tweet(n, BOB, n - 100)) for n in (103, 104, 105)])
        # 101 is now fourth newest: out of the range of three, so a retweet of it goes in.
        listen(p, [line(v1_retweet(106, t101, DAVE, T0 + 6000))])
        t107 = tweet(107, BOB, 7)
        # The original and its retweet in one batch: the original is written, the retweet not.
        listen(p, [line(t107), line(v1_retweet(108, t107, CAROL, T0 + 8000))])
        fanned_out = [107, 106, 105, 104, 103, 101]
        assert shown(p, "timeline:20") == fanned_out

        rebuild(p.runtime(), ["timeline:20"])  # copied from SQL: the same rule over its items
        assert shown(p, "timeline:20") == fanned_out
        # As after a Redis loss: the next read copies the feed from SQL.
        client.delete("{tweetfeed}:feeds:built", "tweetfeed:feed:timeline:20")
        assert shown(p, "timeline:20") == fanned_out
