"""``read`` and ``read-p99``: a timeline page of 25 enriched activities over HTTP against raw
ZREVRANGE of the same key.

The timeline is built the way tweetfeed builds one: ``timeline:1`` follows every author of a
2,000-line synthetic v1.1 stream (``follows.add``, about 500 authors with profiles), then the
real listener and worker ingest the stream with fan-out on, which leaves the timeline at its
1,000-item cap of tweets, replies, retweets and quotes. A real ``tweetfeed web`` serves it
(its default worker count, or ``TWEETFEED_WEB_WORKERS`` if set in the environment); wrk
reads ``/api/feeds/timeline/1?limit=25`` from 16 connections for 10 s (quick: 1 s). The
reference is ``redis-benchmark`` with 16 clients running the bare ``ZREVRANGE`` of the same
key, 25 members with scores: what the page costs Redis alone. Runs alternate, ours first,
after one unmeasured second of wrk that fills the read cache. wrk and redis-benchmark run on
the same cores as the server.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from typing import Any

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
from bench.ingest import replay
from bench.streams import stream
from pipeline.feeds import follows, ids
from pipeline.store.engine import make_engine, make_sessionmaker

ITEMS = 1000
DATABASE = "bench_read"
LOGS = WORK / "read"
FEED = "timeline:1"
LINES = 2_000


def populate(url: str, server: PrivateRedis) -> int:
    """``timeline:1`` follows every author, then the stream goes through the real pipeline;
    returns how many activities the timeline holds (its cap, less the few deleted since)."""
    data = stream(LINES)
    engine = make_engine(url)
    with make_sessionmaker(engine).begin() as session:
        follows.add(session, [(FEED, ids.user_feed(a)) for a in sorted(data.authors)])
    engine.dispose()
    replay("read-populate", data, url, server)
    held = server.client().zcard(ids.redis_key(FEED))
    if held < 0.95 * ITEMS:
        raise RuntimeError(f"{FEED} holds {held} activities after ingest, not {ITEMS}")
    return int(held)


def check_page(page: dict[str, Any]) -> int:
    """Fail unless ``page`` holds 25 activities, each with its actor loaded, and nearly all
    with their object (a retweet's original is missing when the stream never carried it);
    return how many lack their object."""
    found = page.get("activities") or []
    actors = [a for a in found if a.get("actor_data")]
    objects = [a for a in found if a.get("object_data")]
    if len(found) != 25 or len(actors) != 25 or len(objects) < 20:
        bare = [a for a in found if a not in actors or a not in objects][:1]
        raise RuntimeError(
            f"the page holds {len(found)} activities, {len(actors)} with their actor and "
            f"{len(objects)} with their object loaded: {bare}"
        )
    return len(found) - len(objects)


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
            raise RuntimeError(
                f"{tool} is not installed, and the read benchmark drives it: "
                "apt-get install -y wrk redis-tools (.ci/run installs wrk)"
            )
    seconds, pairs = (1, 1) if quick else (10, 3)
    url = fresh_database(DATABASE)
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    with private_redis() as server:
        held = populate(url, server)
        port = free_port()
        settings = {"TWEETFEED_DATABASE_URL": url, "TWEETFEED_REDIS_URL": server.url(),
                    "TWEETFEED_WEB_PORT": str(port)}  # fmt: skip
        if os.environ.get("TWEETFEED_WEB_WORKERS"):
            settings["TWEETFEED_WEB_WORKERS"] = os.environ["TWEETFEED_WEB_WORKERS"]
        env = environment(**settings)
        target = f"http://127.0.0.1:{port}/api/feeds/timeline/1?limit=25"
        log = LOGS / "web.log"
        with started([str(BIN / "tweetfeed"), "web"], log, cwd=ROOT, env=env):
            # The first read of the timeline copies it from SQL (once per Redis life), which
            # can take seconds on a busy machine: a slow answer is waited for, not a failure.
            for _ in range(300):
                try:
                    if requests.get(target, timeout=30).ok:
                        break
                except requests.ConnectionError:
                    time.sleep(0.1)
            else:
                raise RuntimeError(f"tweetfeed web did not answer:\n{tail(log)}")
            missing = check_page(requests.get(target, timeout=30).json())
            wrk(target, 1)  # warm-up: caches filled, not measured
            for _ in range(pairs):
                ours.append(wrk(target, seconds))
                theirs.append(raw(server, 20_000 if quick else 200_000))
    rates, p99s = [r for r, _ in ours], [p for _, p in ours]
    raw_rates, raw_p99s = [r for r, _ in theirs], [p for _, p in theirs]
    value, p99 = statistics.median(rates), statistics.median(p99s)
    reference, raw_p99 = statistics.median(raw_rates), statistics.median(raw_p99s)
    notes = (
        f"{held:,} activities in {FEED}, 25 a page ({missing} of the first page's objects "
        "not stored: retweets of tweets the stream never carried), wrk 16 connections, "
        f"{pairs} interleaved "
        f"pairs of {seconds} s; pages/s {spread(rates)}, p99 ms {spread(p99s)}; raw ZREVRANGE "
        f"{spread(raw_rates)} req/s, p99 ms {spread(raw_p99s)}"
    )
    runs = {"tweetfeed": rates, "raw-zrevrange": raw_rates}
    p99_runs = {"tweetfeed": p99s, "raw-zrevrange": raw_p99s}
    return [
        Figure(name="read", value=round(value), unit="pages/s", reference=round(reference),
               ratio=round(value / reference, 3), target="≥ 1,500 pages/s with p99 ≤ 10 ms",
               met=value >= 1500 and p99 <= 10, runs=runs, notes=notes),
        Figure(name="read-p99", value=round(p99, 2), unit="ms", reference=round(raw_p99, 2),
               ratio=None, target="p99 ≤ 10 ms",
               met=p99 <= 10, runs=p99_runs, notes=notes),
    ]  # fmt: skip


if __name__ == "__main__":
    for figure in run("--quick" in sys.argv[1:]):
        print(json.dumps(figure.as_json(), indent=2, ensure_ascii=False))
