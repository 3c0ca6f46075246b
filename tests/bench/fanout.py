"""``make bench``, second half: fan-out writes into Redis feeds, on this machine.

1. The raw Redis limit, two ways of writing one chunk in one round trip: the Lua script the
   Redis feed store uses (ZADD + trim per feed inside Redis) and a plain pipeline of ZADD and
   ZREMRANGEBYRANK commands.
2. The real thing: ``tweetfeed.add_activity`` sent to a real Celery worker (prefork, 2
   processes) for an author with many followers, fanned out in ``fanout_chunk`` tasks that also
   write the durable SQL copy (PostgreSQL).

Prints the machine and the figures; asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from typing import Any

import redis

from pipeline.bus.client import Client
from pipeline.feeds import follows, ids
from pipeline.feeds.storage.base import Item
from pipeline.feeds.storage.redis import RedisFeedStore
from pipeline.store.engine import make_engine, make_sessionmaker
from tests.bench.ingest import BIN, REDIS_URL, ROOT, fresh_database, machine

FEED_LENGTH = 1000


def pipelined(client: Any, entries: list[tuple[str, Item]]) -> None:
    pipe = client.pipeline(transaction=False)
    for feed, item in entries:
        key = ids.redis_key(feed)
        pipe.zadd(key, {ids.member(item.activity_id): item.score})
        pipe.zremrangebyrank(key, 0, -(FEED_LENGTH + 1))
    pipe.execute()


def raw_limit(client: Any, feeds: int, activities: int) -> float:
    """Writes per second of the Lua store and of a pipeline; returns the Lua figure."""
    store = RedisFeedStore(client, lambda feed: FEED_LENGTH)
    names = [f"timeline:{n}" for n in range(feeds)]
    results = {}
    for label, write in (("lua script", store.add), ("pipeline", lambda e: pipelined(client, e))):
        client.flushdb()
        started = time.perf_counter()
        for a in range(activities):
            write([(feed, Item(1_700_000_000_000 + a, a)) for feed in names])
        results[label] = feeds * activities / (time.perf_counter() - started)
        print(f"  {label:<11} {results[label]:10,.0f} feed writes/s "
              f"({feeds} feeds per round trip)")  # fmt: skip
    client.flushdb()
    return results["lua script"]


def end_to_end(client: Any, followers: int, activities: int, raw: float) -> None:
    url = fresh_database("tweetfeed_bench_fanout")
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as session:
        follows.add(session, [(f"timeline:{n}", "user:1") for n in range(followers)])
    engine.dispose()
    client.flushdb()
    env = {"TWEETFEED_DATABASE_URL": url, "TWEETFEED_REDIS_URL": REDIS_URL,
           "TWEETFEED_CELEBRITY_THRESHOLD": str(followers * 2)}  # fmt: skip
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "workers", "worker", "-Q", "fanout,fanout_low", "-c", "2",
         "--loglevel=WARNING", "-n", "bench-fanout@%h"],
        cwd=ROOT, env={**_environ(), **env}, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(4)  # worker boot; not part of the measurement
        started = time.perf_counter()
        with Client(REDIS_URL) as sender:
            for n in range(activities):
                sender.add_activity(actor="user:1", verb="tweet", object=f"tweet:{n}")
        while any(client.llen(q) for q in ("fanout", "fanout_low")) or client.hlen("unacked"):
            time.sleep(0.01)
        wall = time.perf_counter() - started
        written = sum(client.zcard(f"tweetfeed:feed:timeline:{n}") for n in range(0, followers, 97))
        sampled = len(range(0, followers, 97))
        rate = followers * activities / wall
        print(f"  end to end: {activities} activities x {followers:,} followers in {wall:.2f} s")
        print(f"  throughput:  {rate:10,.0f} feed writes/s "
              f"= {rate / raw:.0%} of the Lua limit (Redis + SQL durable copy)")  # fmt: skip
        print(f"  check: sampled feeds hold {written / sampled:.1f} of {activities} items each")
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("TWEETFEED_")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=500, help="feeds per chunk")
    parser.add_argument("--followers", type=int, default=20_000)
    parser.add_argument("--activities", type=int, default=10)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    client = redis.Redis.from_url(REDIS_URL)
    print(f"fan-out, raw Redis, feeds trimmed to {FEED_LENGTH}:")
    raw = raw_limit(client, args.feeds, 200)
    print("fan-out through Celery (PostgreSQL durable copy, FANOUT_CHUNK_SIZE=500):")
    end_to_end(client, args.followers, args.activities, raw)


if __name__ == "__main__":
    main()
