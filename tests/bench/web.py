"""``make bench``, third part: timeline reads over HTTP, measured with wrk.

A feed of 1,000 activities (tweets with their authors) in PostgreSQL and Redis, served by a real
``tweetfeed web`` process; wrk reads pages of 25 enriched activities for 10 s from 16
connections. Prints the machine, requests/s and latency percentiles; asserts nothing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta

import redis
import requests

from models import Tweet, TwitterUser
from pipeline.feeds import activities
from pipeline.feeds.storage.redis import RedisFeedStore
from pipeline.feeds.storage.sql import SqlFeedStore
from pipeline.store.engine import make_engine, make_sessionmaker
from tests.bench.ingest import BIN, REDIS_URL, ROOT, fresh_database, machine
from tests.helpers import free_port

ITEMS = 1000


def populate(url: str, client: redis.Redis) -> None:
    engine = make_engine(url)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with make_sessionmaker(engine).begin() as session:
        session.add_all(
            TwitterUser(id=u, screen_name=f"user{u}", name=f"User {u}", profile_at=start)
            for u in range(1, 51)
        )
        session.add_all(
            Tweet(
                id=n,
                author_id=n % 50 + 1,
                text=f"tweet number {n}",
                source_format="v1",
                created_at=start + timedelta(seconds=n),
                raw=b"",
            )
            for n in range(1, ITEMS + 1)
        )
        rows = [{"actor": f"user:{n % 50 + 1}", "verb": "tweet", "object": f"tweet:{n}",
                 "target": None, "time": start + timedelta(seconds=n), "foreign_id": f"tweet:{n}",
                 "to_feeds": None, "extra": None} for n in range(1, ITEMS + 1)]  # fmt: skip
        entries = [("timeline:1", a.item) for a in activities.insert(session, rows)]
        SqlFeedStore(session, lambda _: ITEMS).add(entries)
    RedisFeedStore(client, lambda _: ITEMS).add(entries)
    engine.dispose()


def main() -> None:
    print(f"machine: {machine()}")
    wrk = shutil.which("wrk")
    if wrk is None:
        print("timeline reads: skipped, wrk is not installed (apt-get install wrk)")
        return
    url = fresh_database("tweetfeed_bench_web")
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    populate(url, client)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWEETFEED_")}
    env.update(TWEETFEED_DATABASE_URL=url, TWEETFEED_REDIS_URL=REDIS_URL,
               TWEETFEED_WEB_PORT=str(port))  # fmt: skip
    server = subprocess.Popen([str(BIN / "tweetfeed"), "web"], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    target = f"http://127.0.0.1:{port}/api/feeds/timeline/1?limit=25"
    try:
        for _ in range(300):
            try:
                if requests.get(target, timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        out = subprocess.run([wrk, "-t2", "-c16", "-d10s", "--latency", target],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)
        client.flushdb()
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    latencies = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    print("timeline reads over HTTP (one uvicorn process, 25 enriched activities a page):")
    print(f"  {float(rate.group(1)) if rate else 0:,.0f} requests/s; latency "
          + ", ".join(f"p{p} {v}" for p, v in latencies.items()))  # fmt: skip


if __name__ == "__main__":
    main()
