"""The feeds scenario several test folders share: a small follow graph and a replayed stream
through ``tweetfeed listen`` and a real Celery worker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from pipeline.bus.client import Client
from pipeline.store.redis_client import connect
from tests.brokers import broker_of, env_for
from tests.conftest import QUEUES, TEST_REDIS_URL, Database, Pipeline
from tests.factories import line, v1_entities, v1_retweet, v1_tweet, v2_line
from tests.helpers import clean_env, tweetfeed, worker

# The Redis database of tests that run a worker of their own, with settings of their own.
OWN_REDIS_URL = f"{TEST_REDIS_URL}/15"

T0 = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC; every tweet below is on that day
ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4


def stream() -> list[bytes]:
    """Bob tweets #Python, Carol mentions Alice, Carol and Dave retweet Bob, Bob's v2 tweet
    matches filter term 9, Alice replies to Carol."""
    t101 = v1_tweet(101, "hello #Python", BOB, timestamp_ms=T0 + 1000,
                    entities=v1_entities(("Python",)))  # fmt: skip
    t102 = v1_tweet(102, "hi @user1", CAROL, timestamp_ms=T0 + 2000,
                    entities=v1_entities(mentions=(ALICE,)))  # fmt: skip
    t106 = v1_tweet(106, "@user3 indeed", ALICE, timestamp_ms=T0 + 6000,
                    in_reply_to_status_id_str="102",
                    entities=v1_entities(mentions=(CAROL,)))  # fmt: skip
    return [
        line(t101),
        line(t102),
        line(v1_retweet(103, t101, CAROL, T0 + 3000)),
        line(v1_retweet(104, t101, DAVE, T0 + 4000)),
        v2_line(105, BOB, "streams are fun", T0 + 5000, terms=(9,)),
        line(t106),
    ]


def listen(p: Pipeline, lines: list[bytes]) -> None:
    result = tweetfeed("listen", "--from-file", "-", env=p.env, stdin=b"\n".join(lines))
    assert result.returncode == 0, result.stderr.decode()
    p.wait_settled()


def send(p: Pipeline, name: str, **payload: Any) -> None:
    with Client(p.broker_url) as client:
        client.send(name, **payload)
    p.wait_settled()


def follow_many(p: Pipeline, pairs: list[tuple[str, str]], **extra: Any) -> None:
    follows = [{"feed": f, "target": t} for f, t in pairs]
    send(p, "tweetfeed.follow_many", follows=follows, **extra)


def graph_and_stream(p: Pipeline) -> None:
    follow_many(p, [
        ("timeline:1", "user:2"), ("timeline:1", "user:3"),
        ("timeline_aggregated:1", "user:2"), ("timeline_aggregated:1", "user:3"),
        ("timeline:4", "hashtag:python"),
    ])  # fmt: skip
    listen(p, stream())


def own_env(db: Database, var: Path, **settings: str) -> tuple[Any, dict[str, str]]:
    """An emptied Redis database of its own and the environment of a worker on it and ``db``,
    with ``settings`` (``ACTIVE_DAYS="2"`` sets TWEETFEED_ACTIVE_DAYS)."""
    client = redis.Redis.from_url(OWN_REDIS_URL)
    client.flushdb()
    extra = {f"TWEETFEED_{k}": v for k, v in settings.items()}
    env = clean_env(TWEETFEED_DATABASE_URL=db.url, TWEETFEED_REDIS_URL=OWN_REDIS_URL,
                    TWEETFEED_VAR_DIR=str(var), **extra)  # fmt: skip
    return client, env


@contextmanager
def own_pipeline(
    db: Database, var: Path, name: str, broker: str = "redis", concurrency: int = 1,
    redis_url: str | None = None, **settings: str,
) -> Iterator[Pipeline]:  # fmt: skip
    """A worker of the test's own on every queue (see :func:`own_env`), as a Pipeline; on
    ``broker`` "rabbitmq", with a RabbitMQ vhost of its own as the broker. ``redis_url``: the
    Redis of feeds and batches is that one (a Redis Cluster, say), the broker stays apart."""
    client, env = own_env(db, var, BATCH_WAIT_MS="50", **settings)
    if redis_url is not None:
        client = connect(redis_url)
        env = {**env, "TWEETFEED_REDIS_URL": redis_url}
    with broker_of(broker, OWN_REDIS_URL) as made:
        env = env_for(made, env)
        apart = made if made.vhost or redis_url is not None else None
        with worker(env, var / f"{name}.log", QUEUES, concurrency=concurrency):
            yield Pipeline(db, redis_url or OWN_REDIS_URL, client, env, apart)
