"""The pipeline end to end on each broker: Redis, and RabbitMQ (a vhost of quorum queues), and
with its feeds in a Redis Cluster.
A follow graph sent as tasks, a stream replayed by the listener, a worker that parses, stores
and fans out, and every feed exact; on RabbitMQ, the listener's task carries a reference to
its parked batch as plain JSON."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from kombu import Connection
from sqlalchemy import func, select

from models import Activity, Tweet
from pipeline.bus.sender import queue
from pipeline.feeds.read import FlatFeed, get_feed
from pipeline.ingest.parked import KEY_PREFIX
from tests.brokers import broker_of, env_for
from tests.conftest import Database, Pipeline
from tests.helpers import tweetfeed
from tests.scenario import OWN_REDIS_URL, follow_many, listen, own_env, own_pipeline, stream

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)

EXPECTED = {
    "timeline:1": [105, 103, 102, 101],
    "timeline:4": [104, 103, 101],
    "timeline:5": [105, 101],
    "timeline:6": [105, 101],
    "timeline:7": [105, 101],
    "hashtag:python": [104, 103, 101],
}


@pytest.fixture(params=["redis", "rabbitmq", "redis-cluster"])
def pipeline_on(request: pytest.FixtureRequest, db: Database, tmp_path: Path) -> Iterator[Pipeline]:
    """A worker on Redis, on RabbitMQ, or with its feeds and batches in a Redis Cluster (the
    broker then a Redis server apart)."""
    cluster = None
    if request.param == "redis-cluster":
        cluster = request.getfixturevalue("redis_cluster_url")
        request.getfixturevalue("cluster_client")  # emptied
    broker = "rabbitmq" if request.param == "rabbitmq" else "redis"
    with own_pipeline(
        db, tmp_path, "worker", broker, 2, redis_url=cluster, FANOUT_CHUNK_SIZE="2"
    ) as made:
        yield made


def tweet_ids(p: Pipeline, feed: str) -> list[int]:
    found = get_feed(feed, p.runtime())
    assert isinstance(found, FlatFeed)
    return [int(a.foreign_id.split(":")[1]) for a in found[:]]


def test_a_stream_is_stored_and_fanned_out(pipeline_on: Pipeline) -> None:
    p = pipeline_on
    follow_many(p, [("timeline:1", "user:2"), ("timeline:1", "user:3"),
                    ("timeline:4", "hashtag:python"),
                    *((f"timeline:{n}", "user:2") for n in (5, 6, 7))])  # fmt: skip
    listen(p, stream())
    listen(p, stream())  # the same capture again: nothing doubles
    with p.db.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Tweet)) == 6
        assert session.scalar(select(func.count()).select_from(Activity)) == 6
    assert {feed: tweet_ids(p, feed) for feed in EXPECTED} == EXPECTED


def test_on_rabbitmq_a_parked_batch_travels_as_a_reference_in_plain_json(
    db: Database, tmp_path: Path
) -> None:
    client, env = own_env(db, tmp_path)
    with broker_of("rabbitmq", OWN_REDIS_URL) as broker:
        env = env_for(broker, env)
        lines = b"\n".join(stream())
        done = tweetfeed("listen", "--from-file", "-", "--commit-wait", "0", env=env, stdin=lines)
        assert done.returncode == 0, done.stderr.decode()
        stats = tweetfeed("stats", env=env)  # its queue depths come from RabbitMQ
        assert stats.returncode == 0, stats.stderr.decode()
        assert re.search(rb"queue ingest\s+1\n", stats.stdout), stats.stdout
        with Connection(broker.url) as conn:
            message = queue("ingest")(conn.channel()).get(no_ack=True)
        assert message is not None
        assert message.content_type == "application/json"
        assert message.headers["task"] == "tweetfeed.ingest_batch"
        args, kwargs, _ = orjson.loads(message.body)
        assert args == [] and "lines" not in kwargs
        assert kwargs["batch"].startswith(KEY_PREFIX)
        assert client.exists(kwargs["batch"])  # the lines wait in Redis, parked
