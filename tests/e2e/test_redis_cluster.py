"""The pipeline with TWEETFEED_REDIS_URL naming a Redis Cluster of three masters (the broker a
Redis server apart): a fan-out of three chunks and a celebrity merged at read time, feeds on
every master, a removal, a master that lost its feeds, a rebuild, the web API and status page
served from it; and the live listener, beat and counters on it.

The feed contract suite (``tests/feeds/test_feedstore.py``), the removal record
(``test_removals``), the hydrated cache (``test_hydrated``) and the feed tests with a worker
(``tests/feeds/conftest.py``) run against the cluster as well.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from pipeline.bus.client import Client
from pipeline.control import redis_keys
from pipeline.feeds import ids
from pipeline.feeds.read import FlatFeed, get_feed
from pipeline.stream.lock import lock_key
from tests.conftest import Database, Pipeline, fresh
from tests.helpers import BIN, free_port, served, tweetfeed, wait_until
from tests.scenario import own_pipeline
from tests.stream import test_live
from tests.stream.test_live import TOKEN, Processes, rules_of, set_terms, stored

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)
fake, live = test_live.fake, test_live.live  # the live listener's fixtures, on ``pipeline`` here

FANS = 300  # follow user:1; chunks of 100: three fan-out chunks an activity
CROWD = 600  # follow user:2, over the threshold: a celebrity, merged when read
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def pipeline(database: Database, cluster_worker: Pipeline) -> Pipeline:
    """For the live listener's fixtures: the session worker on the cluster."""
    return fresh(cluster_worker)


@pytest.fixture
def big(
    db: Database, tmp_path: Path, cluster_client: Any, redis_cluster_url: str
) -> Iterator[Pipeline]:
    with own_pipeline(db, tmp_path, "worker", "redis", 2, redis_url=redis_cluster_url,
                      CELEBRITY_THRESHOLD="500", FANOUT_CHUNK_SIZE="100") as made:  # fmt: skip
        yield made


def masters(cluster: Any) -> list[redis.Redis]:
    return [node.redis_connection for node in cluster.get_primaries()]


def feeds_on(server: redis.Redis) -> int:
    return sum(1 for _ in server.scan_iter("tweetfeed:feed:*:timeline:*", count=1000))


def shown(p: Pipeline, feed: str) -> list[str]:
    found = get_feed(feed, p.runtime())
    assert isinstance(found, FlatFeed)
    return [a.foreign_id for a in found[:]]


def test_fan_out_reads_removal_loss_and_rebuild_across_the_masters(
    big: Pipeline, tmp_path: Path
) -> None:
    p = big
    with Client(p.broker_url) as client:
        client.follow_many([{"feed": f"timeline:{n}", "target": "user:1"} for n in range(FANS)])
        client.follow_many([{"feed": f"timeline:{n}", "target": "user:2"} for n in range(CROWD)])
    p.wait_settled()
    posts = [("user:1", "a1", 1), ("user:2", "b1", 2), ("user:1", "a2", 3), ("user:2", "b2", 4),
             ("user:1", "a3", 5)]  # fmt: skip
    with Client(p.broker_url) as client:
        for actor, foreign_id, minute in posts:
            when = (T0 + timedelta(minutes=minute)).isoformat()
            client.add_activity(actor=actor, verb="tweet", object=f"post:{foreign_id}",
                                foreign_id=foreign_id, time=when)  # fmt: skip
    p.wait_settled()
    both, crowd_only = ["a3", "b2", "a2", "b1", "a1"], ["b2", "b1"]

    def expected(n: int) -> list[str]:
        return both if n < FANS else crowd_only

    on_each = [feeds_on(m) for m in masters(p.redis)]
    assert sum(on_each) == FANS and all(on_each), f"the fans' feeds on every master: {on_each}"
    sample = [0, 1, 77, 150, 299, 300, 451, 599]
    assert {n: shown(p, f"timeline:{n}") for n in sample} == {n: expected(n) for n in sample}

    with Client(p.broker_url) as client:
        client.remove_activity(foreign_id="a2")
    p.wait_settled()
    both.remove("a2")
    # Every fan's Redis feed, on whichever master it is, holds a1 and a3 alone now.
    held = {p.redis.zcard(ids.cluster_key(f"timeline:{n}")) for n in range(FANS)}
    assert held == {2}
    assert {n: shown(p, f"timeline:{n}") for n in sample} == {n: expected(n) for n in sample}

    # A master loses its data (feeds, and the marks if it held {tweetfeed}): reads rebuild.
    lost = max(masters(p.redis), key=feeds_on)
    lost.flushall()
    assert {n: shown(p, f"timeline:{n}") for n in sample} == {n: expected(n) for n in sample}
    for m in masters(p.redis):
        m.flushall()
    done = tweetfeed("feeds", "rebuild", env=p.env)
    assert done.returncode == 0, done.stderr.decode()
    assert sum(feeds_on(m) for m in masters(p.redis)) == FANS  # the crowd's only merge
    assert {n: shown(p, f"timeline:{n}") for n in sample} == {n: expected(n) for n in sample}

    port = free_port()
    env = {**p.env, "TWEETFEED_WEB_PORT": str(port)}
    with served([str(BIN / "tweetfeed"), "web"], env, f"http://127.0.0.1:{port}",
                tmp_path / "web.log") as url:  # fmt: skip
        for n in (7, 450):
            body = requests.get(f"{url}/api/feeds/timeline/{n}", timeout=10).json()
            assert [a["foreign_id"] for a in body["activities"]] == expected(n)
        status = requests.get(f"{url}/api/status", timeout=10)
        assert status.status_code == 200, status.text
        assert requests.get(url, timeout=10).status_code == 200
    stats = tweetfeed("stats", env=p.env)
    assert stats.returncode == 0, stats.stderr.decode()


def test_the_live_listener_beat_and_counters_on_a_cluster(
    pipeline: Pipeline, fake: Any, live: Processes
) -> None:
    live.beat()
    live.listener()
    for wanted in (("python",), ("python", "rust")):
        expected = set_terms(pipeline, *wanted)
        wait_until(lambda e=expected: rules_of(fake) == e, 15, f"rules {wanted}")  # type: ignore[misc]
    wait_until(lambda: fake.open_connections() == 1, 15, "the stream to connect")
    sent = fake.send_tweets(5)
    wait_until(lambda: set(sent) <= stored(pipeline), 30, "the tweets stored")
    assert pipeline.redis.exists(lock_key(TOKEN)), "the stream lock is held in the cluster"
    listener = redis_keys.listener("main")
    wait_until(lambda: pipeline.redis.hget(listener, "tweets_received") == b"5", 15,
               "the listener's counts in the cluster")  # fmt: skip
    assert pipeline.redis.hget(listener, "state") == b"connected"
    minute = int(time.time() // 60)
    counted = sum(int(pipeline.redis.hget(redis_keys.rate(m), "all") or 0)
                  for m in (minute - 1, minute))  # fmt: skip
    assert counted == 5
