"""``read``: a timeline page of 25 enriched activities over HTTP against raw ZREVRANGE.

A timeline of 1,000 activities (tweets by 50 authors with profiles) in a fresh PostgreSQL
database and a private ``redis-server``, served by a real ``tweetfeed web`` (its default: one
uvicorn worker per core). wrk reads ``/api/feeds/timeline/1?limit=25`` from 16 connections
for 10 s (quick: 1 s); the reference is ``redis-benchmark`` with 16 clients running the bare
``ZREVRANGE`` of the same key, 25 members with scores: what the page costs Redis alone. Runs
alternate, ours first. wrk and redis-benchmark run on the same two cores as the server.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import requests

from bench.harness import (
    BIN,
    ROOT,
    WORK,
    Figure,
    PrivateRedis,
    environment,
    free_port,
    fresh_database,
    private_redis,
    spread,
    started,
    tail,
)
from models import Tweet, TwitterUser
from pipeline.feeds import activities, ids
from pipeline.feeds.storage.redis import RedisFeedStore
from pipeline.feeds.storage.sql import SqlFeedStore
from pipeline.store.engine import make_engine, make_sessionmaker

ITEMS = 1000
DATABASE = "bench_read"
LOGS = WORK / "read"
FEED = "timeline:1"


def populate(url: str, server: PrivateRedis) -> None:
    engine = make_engine(url)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with make_sessionmaker(engine).begin() as session:
        session.add_all(
            TwitterUser(id=u, screen_name=f"user{u}", name=f"User {u}", profile_at=start)
            for u in range(1, 51)
        )
        session.add_all(
            Tweet(id=n, author_id=n % 50 + 1, text=f"tweet number {n} " + "x" * 120,
                  source_format="v1", created_at=start + timedelta(seconds=n), raw=b"")
            for n in range(1, ITEMS + 1)
        )  # fmt: skip
        rows = [{"actor": f"user:{n % 50 + 1}", "verb": "tweet", "object": f"tweet:{n}",
                 "target": None, "time": start + timedelta(seconds=n), "foreign_id": f"tweet:{n}",
                 "to_feeds": None, "extra": None} for n in range(1, ITEMS + 1)]  # fmt: skip
        entries = [(FEED, a.item) for a in activities.insert(session, rows)]
        SqlFeedStore(session, lambda _: ITEMS).add(entries)
    RedisFeedStore(server.client(), lambda _: ITEMS).add(entries)
    engine.dispose()


def wrk(url: str, seconds: int) -> tuple[float, float]:
    """Requests/s and p99 in ms of one wrk run, 16 connections."""
    out = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\b", out, re.M)
    if not rate or not p99 or "Non-2xx" in out:
        raise RuntimeError(f"wrk gave no clean figures:\n{out}")
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    return float(rate.group(1)), float(p99.group(1)) * scale


def raw(server: PrivateRedis, requests_: int) -> tuple[float, float]:
    """Requests/s and p99 in ms of bare ZREVRANGE, 16 clients."""
    key = ids.redis_key(FEED)
    out = subprocess.run(
        ["redis-benchmark", "-p", str(server.port), "-c", "16", "-n", str(requests_), "--csv",
         "ZREVRANGE", key, "0", "24", "WITHSCORES"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    fields = [f.strip('"') for f in out.strip().splitlines()[-1].split(",")]
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99…"
    return float(fields[1]), float(fields[6])


def run(quick: bool) -> list[Figure]:
    for tool in ("wrk", "redis-benchmark"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed (apt-get install wrk redis-tools)")
    seconds, pairs = (1, 1) if quick else (10, 3)
    url = fresh_database(DATABASE)
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    with private_redis() as server:
        populate(url, server)
        port = free_port()
        env = environment(TWEETFEED_DATABASE_URL=url, TWEETFEED_REDIS_URL=server.url(),
                          TWEETFEED_WEB_PORT=str(port))  # fmt: skip
        target = f"http://127.0.0.1:{port}/api/feeds/timeline/1?limit=25"
        log = LOGS / "web.log"
        with started([str(BIN / "tweetfeed"), "web"], log, cwd=ROOT, env=env):
            for _ in range(300):
                try:
                    if requests.get(target, timeout=1).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.1)
            else:
                raise RuntimeError(f"tweetfeed web did not answer:\n{tail(log)}")
            if len(requests.get(target, timeout=5).json()["activities"]) != 25:
                raise RuntimeError("the page does not hold 25 activities")
            wrk(target, 1)  # warm-up: caches filled, not measured
            for _ in range(pairs):
                ours.append(wrk(target, seconds))
                theirs.append(raw(server, 20_000 if quick else 200_000))
    rates, p99s = [r for r, _ in ours], [p for _, p in ours]
    value, p99 = statistics.median(rates), statistics.median(p99s)
    reference, raw_p99 = (
        statistics.median(r for r, _ in theirs),
        statistics.median(p for _, p in theirs),
    )
    notes = (
        f"{pairs} interleaved pairs of {seconds} s; pages/s {spread(rates)}, p99 ms "
        f"{spread(p99s)}; raw ZREVRANGE {spread([r for r, _ in theirs])} req/s, p99 "
        f"{raw_p99:.2f} ms"
    )
    return [
        Figure(
            name="read", value=round(value), unit="pages/s", reference=round(reference),
            ratio=round(value / reference, 3), target="≥ 1,500 pages/s with p99 ≤ 10 ms",
            met=value >= 1500 and p99 <= 10, runs={"tweetfeed": rates, "raw-zrevrange": [
                r for r, _ in theirs], "tweetfeed-p99-ms": p99s}, notes=notes,
        )
    ]  # fmt: skip


if __name__ == "__main__":
    for figure in run("--quick" in sys.argv[1:]):
        print(json.dumps(figure.as_json(), indent=2, ensure_ascii=False))
