"""``delivery``: how long a line takes from the listener's stdin to every follower timeline.

The real pipeline on PostgreSQL and a private Redis: ``tweetfeed listen --from-file -`` fed
synthetic v1 lines at a fixed rate by a paced writer, one Celery worker as the Procfile starts
it (``-Q ingest,fanout,fanout_low``, two processes), batching at its defaults. Every 50th line
is a probe: a new tweet, stamped now, by one of ten probe authors, each followed by 100
``timeline`` feeds (``follows.add``, before anything starts). A probe's latency runs from the
moment its line was written to the moment a poller saw it in all 100 feeds: the poller reads
the probe's activity id from ``activities`` (foreign id ``tweet:<id>``), watches one follower
feed per probe with ZSCORE, and once that one has it checks the rest.

Rates 1,000, 2,000 and 5,000 lines/s, 10 s each after a second of warm-up (quick: 300/s for
4 s); the pipeline drains between rates. A probe not delivered 30 s after its rate ended
counts at that bound.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.harness import (
    BIN,
    ROOT,
    WORK,
    Figure,
    environment,
    fresh_database,
    private_redis,
    started,
    tail,
)
from models import Activity
from pipeline.fakes import synth
from pipeline.feeds import follows, ids
from pipeline.store.engine import make_engine, make_sessionmaker

DATABASE = "bench_delivery"
LOGS = WORK / "delivery"
PROBE_EVERY = 50
AUTHORS = [990_000_000_000 + k for k in range(10)]
FOLLOWERS = 100
WARM_UP = 1.0
DEADLINE = 30.0
TARGET_RATE = 5000


def feeds_of(author: int) -> list[str]:
    return [f"timeline:p{author}n{n}" for n in range(FOLLOWERS)]


def probe_line(template: dict[str, Any], tweet_id: int, author: int) -> bytes:
    """A copy of a plain synthetic tweet with a new id, a probe author, and the time now."""
    now = datetime.now(UTC)
    user = {**template["user"], "id": author, "id_str": str(author),
            "screen_name": f"probe{author}"}  # fmt: skip
    tweet = {**template, "id": tweet_id, "id_str": str(tweet_id), "user": user,
             "created_at": now.strftime("%a %b %d %H:%M:%S +0000 %Y"),
             "timestamp_ms": str(int(now.timestamp() * 1000))}  # fmt: skip
    return json.dumps(tweet, ensure_ascii=False).encode()


@dataclass
class Probe:
    sent: float
    waiting: list[str]  # follower feeds not yet seen holding it
    activity: int | None = None


@dataclass
class Poller:
    """Watches probes until each is in all its follower feeds; records their latencies."""

    client: redis.Redis
    sessions: sessionmaker[Session]
    every: float = 0.01
    pending: dict[int, Probe] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def add(self, tweet_id: int, author: int, sent: float) -> None:
        with self.lock:
            self.pending[tweet_id] = Probe(sent, feeds_of(author))

    def run(self) -> None:
        try:
            while not self.stop.wait(self.every):
                with self.lock:
                    probes = dict(self.pending)
                if probes:
                    self.look(probes)
        except BaseException as exc:
            self.error = exc
            raise

    def look(self, probes: dict[int, Probe]) -> None:
        unknown = {f"tweet:{t}": t for t, p in probes.items() if p.activity is None}
        if unknown:
            query = select(Activity.foreign_id, Activity.id)
            with self.sessions() as session:
                for foreign_id, activity in session.execute(
                    query.where(Activity.foreign_id.in_(list(unknown)))
                ):
                    probes[unknown[foreign_id]].activity = activity
        known = {t: p for t, p in probes.items() if p.activity is not None}
        # One feed per probe first; all the others only for probes that one already holds.
        hit = [t for t, p in zip(known, self.scores(known, 1), strict=True) if p[0]]
        seen = time.perf_counter()
        for tweet_id, found in zip(hit, self.scores({t: known[t] for t in hit}), strict=True):
            probe = known[tweet_id]
            probe.waiting = [f for f, ok in zip(probe.waiting, found, strict=True) if not ok]
            if not probe.waiting:
                with self.lock:
                    if self.pending.pop(tweet_id, None) is not None:
                        self.latencies.append(seen - probe.sent)

    def scores(self, probes: dict[int, Probe], first: int | None = None) -> list[list[bool]]:
        pipe = self.client.pipeline(transaction=False)
        shape = []
        for probe in probes.values():
            feeds = probe.waiting[:first]
            shape.append(len(feeds))
            for feed in feeds:
                pipe.zscore(ids.redis_key(feed), ids.member(probe.activity or 0))
        found = iter(score is not None for score in pipe.execute())
        return [[next(found) for _ in range(n)] for n in shape]


def settle(client: redis.Redis, seconds: float) -> None:
    """Wait until no queue holds a task and none is unacknowledged."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pipe = client.pipeline(transaction=False)
        for queue in ("ingest", "fanout", "fanout_low"):
            pipe.llen(queue)
        pipe.hlen("unacked")
        if not any(pipe.execute()):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the pipeline did not drain in {seconds:.0f} s")


def one_rate(
    rate: int, seconds: float, lines: Sequence[bytes], template: dict[str, Any], poller: Poller,
    env: dict[str, str], first_id: int,
) -> dict[str, Any]:  # fmt: skip
    """Feed ``rate`` lines/s for ``WARM_UP + seconds`` into a new listener; the rate's row."""
    log = LOGS / f"listener-{rate}.log"
    args = [str(BIN / "tweetfeed"), "listen", "--from-file", "-"]
    with log.open("wb") as out:
        listener = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=out,
                                    stderr=subprocess.STDOUT, cwd=ROOT, env=env)  # fmt: skip
        assert listener.stdin is not None
        time.sleep(2)  # the listener's start, not part of any latency
        total = int(rate * (WARM_UP + seconds))
        warm = int(rate * WARM_UP)
        with poller.lock:
            poller.latencies.clear()
        probes = sent = 0
        begun = time.perf_counter()
        while sent < total:
            due = min(total, int((time.perf_counter() - begun) * rate) + 1)
            chunk, added = [], []
            for n in range(sent, due):
                if n >= warm and n % PROBE_EVERY == 0:
                    tweet_id = first_id + n
                    author = AUTHORS[probes % len(AUTHORS)]
                    chunk.append(probe_line(template, tweet_id, author))
                    added.append((tweet_id, author))
                    probes += 1
                else:
                    chunk.append(lines[n])
            if chunk:
                listener.stdin.write(b"\r\n".join(chunk) + b"\r\n")
                listener.stdin.flush()
            now = time.perf_counter()
            for tweet_id, author in added:
                poller.add(tweet_id, author, now)
            sent = due
            time.sleep(0.002)
        achieved = (total - warm) / (time.perf_counter() - begun - WARM_UP)
        listener.stdin.close()
        if listener.wait(timeout=120) != 0:
            raise RuntimeError(f"the listener failed at {rate}/s:\n{tail(log)}")
    ended = time.perf_counter()
    while poller.pending and time.perf_counter() - ended < DEADLINE:
        if poller.error is not None:
            raise RuntimeError("the poller failed") from poller.error
        time.sleep(0.05)
    with poller.lock:
        late = len(poller.pending)
        latencies = sorted(poller.latencies) + [DEADLINE] * late
        poller.pending.clear()
    if len(latencies) == late:
        raise RuntimeError(f"no probe reached its followers at {rate}/s")
    many = len(latencies) > 1
    p99 = statistics.quantiles(latencies, n=100, method="inclusive")[98] if many else latencies[0]
    return {"rate": rate, "achieved": round(achieved), "probes": probes, "late": late,
            "p50": round(statistics.median(latencies), 3), "p99": round(p99, 3),
            "max": round(latencies[-1], 3)}  # fmt: skip


def run(quick: bool) -> list[Figure]:
    plan = [(300, 4.0)] if quick else [(1000, 10.0), (2000, 10.0), (TARGET_RATE, 10.0)]
    counts = [int(rate * (WARM_UP + seconds)) for rate, seconds in plan]
    stream: Iterator[bytes] = synth.generate(sum(counts) + 100, "v1", seed=23)
    warm_lines = list(islice(stream, 100))
    template = next(o for o in map(json.loads, warm_lines) if plain(o))
    database = fresh_database(DATABASE)
    engine = make_engine(database)
    with make_sessionmaker(engine).begin() as session:
        follows.add(session, [(f, ids.user_feed(a)) for a in AUTHORS for f in feeds_of(a)])
    rows = []
    with private_redis() as server:
        env = environment(TWEETFEED_DATABASE_URL=database, TWEETFEED_REDIS_URL=server.url(),
                          TWEETFEED_VAR_DIR=str(LOGS / "var"))  # fmt: skip
        worker = [str(BIN / "celery"), "-A", "workers", "worker", "-Q",
                  "ingest,fanout,fanout_low", "-c", "2", "--loglevel=INFO",
                  "-n", "bench-delivery@%h"]  # fmt: skip
        poller = Poller(server.client(), make_sessionmaker(engine))
        thread = threading.Thread(target=poller.run, daemon=True)
        thread.start()
        try:
            with started(worker, LOGS / "worker.log", cwd=ROOT, env=env):
                # Worker boot: a few lines (one probe) until that probe is delivered.
                one_rate(50, 1.0, warm_lines, template, poller, env, 4 * 10**18)
                for k, (rate, seconds) in enumerate(plan):
                    part = list(islice(stream, counts[k]))
                    first = 4 * 10**18 + (k + 1) * 10**9
                    rows.append(one_rate(rate, seconds, part, template, poller, env, first))
                    settle(server.client(), 120)
        finally:
            poller.stop.set()
            thread.join()
            engine.dispose()
    last = rows[-1]
    passing = [r["rate"] for r in rows if r["p99"] <= 1.0 and not r["late"]]
    table = "; ".join(
        f"{r['rate']:,}/s (achieved {r['achieved']:,}): p50 {r['p50']} s, p99 {r['p99']} s, "
        f"max {r['max']} s, {r['probes']} probes, {r['late']} late"
        for r in rows
    )
    notes = (f"{table}; highest rate with p99 ≤ 1 s: "
             f"{f'{max(passing):,}/s' if passing else 'none'}; probes 1 in {PROBE_EVERY} lines "
             f"by {len(AUTHORS)} authors x {FOLLOWERS} followers; BATCH_SIZE and "
             f"BATCH_WAIT_MS at their defaults; one worker, -c 2")  # fmt: skip
    return [Figure(
        name="delivery", value=last["p99"], unit="s", reference=None, ratio=None,
        target="p99 ≤ 1 s at 5,000 tweets/s",
        met=last["rate"] >= TARGET_RATE and last["p99"] <= 1.0 and not last["late"],
        runs={f"{r['rate']}/s": [r["p50"], r["p99"]] for r in rows}, notes=notes,
    )]  # fmt: skip


def plain(tweet: dict[str, Any]) -> bool:
    """A top-level original: no delete, retweet, quote or reply."""
    return not any(tweet.get(k) for k in ("delete", "retweeted_status", "quoted_status",
                                           "in_reply_to_status_id"))  # fmt: skip


if __name__ == "__main__":
    import sys

    for figure in run("--quick" in sys.argv[1:]):
        print(json.dumps(figure.as_json(), indent=2, ensure_ascii=False))
