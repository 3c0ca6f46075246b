"""One fault scenario: a fresh database on the suite's PostgreSQL, a Redis of its own, real
workers and listeners, and the checks that fill its row of the table."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from models import Activity, DeadLetter, Follow, Tweet
from pipeline.feeds import ids
from pipeline.ingest.parked import STATS_KEY
from pipeline.store.engine import make_engine
from tests.faults.hosts import Host
from tests.faults.servers import ROWS, PrivatePostgres, Row
from tests.helpers import BIN, ROOT, RedisServer, clean_env, wait_until, worker

QUEUES = ("control", "fanout", "ingest", "fanout_low")  # in priority order


@dataclass(frozen=True)
class Expected:
    """What a stream must leave behind: its distinct tweets, the ids its deletes name, the
    authors, and how many of its lines must be dead-lettered."""

    tweets: frozenset[int]
    deleted: frozenset[int]
    authors: frozenset[int]
    dead: int = 0

    @classmethod
    def of(cls, lines: list[bytes], dead: int = 0) -> Expected:
        tweets, deleted, authors = set(), set(), set()
        for line in lines:
            message = orjson.loads(line)
            if "delete" in message:
                deleted.add(int(message["delete"]["status"]["id"]))
            else:
                tweets.add(int(message["id"]))
                authors.add(int(message["user"]["id"]))
        return cls(frozenset(tweets), frozenset(deleted), frozenset(authors), dead)

    @property
    def surviving(self) -> frozenset[int]:
        return self.tweets - self.deleted


@dataclass
class Scenario:
    name: str
    postgres: PrivatePostgres
    folder: Path
    persist: tuple[str, ...] = ()
    settings: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.url = self.postgres.create_database(f"faults_{uuid.uuid4().hex[:10]}")
        self.redis_server = RedisServer(self.folder, *self.persist).start()
        self.redis = redis.Redis.from_url(self.redis_server.url())
        self.env = clean_env(**{"TWEETFEED_DATABASE_URL": self.url,
                                "TWEETFEED_REDIS_URL": self.redis_server.url(),
                                "TWEETFEED_VAR_DIR": str(self.folder / "var"),
                                "TWEETFEED_BATCH_WAIT_MS": "50",
                                "TWEETFEED_VISIBILITY_TIMEOUT": "30", **self.settings})  # fmt: skip
        self.workers = 0
        self.slug = re.sub(r"\W+", "-", self.name).strip("-")[:40]

    def worker(
        self, concurrency: int = 2, host: Host | None = None
    ) -> AbstractContextManager[subprocess.Popen[bytes]]:
        """A worker in a process group of its own (on ``host``, else on this one); ``kill`` it
        to SIGKILL the whole group."""
        self.workers += 1
        log = self.folder / f"{self.slug}-worker-{self.workers}.log"
        if host is None:
            return worker(self.env, log, ",".join(QUEUES), concurrency)
        return worker(host.env(self.env), log, ",".join(QUEUES), concurrency, host.exec)

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def replay(self, path: Path) -> subprocess.Popen[bytes]:
        log = (self.folder / "listener.log").open("ab")
        return subprocess.Popen(
            [str(BIN / "tweetfeed"), "listen", "--from-file", str(path), "--commit-wait", "300"],
            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def lines_done(self) -> int:
        try:
            return int(self.redis.hget(STATS_KEY, "lines") or 0)
        except redis.ConnectionError:
            return 0

    def settled(self) -> bool:
        try:
            waiting = sum(self.redis.llen(q) for q in QUEUES) + self.redis.hlen("unacked")
            return not waiting and not any(self.redis.scan_iter("{tweetfeed}:batch:*", count=1000))
        except redis.ConnectionError:
            return False

    def wait_settled(self, timeout: float = 240) -> None:
        quiet = [0]

        def steady() -> bool:
            quiet[0] = quiet[0] + 1 if self.settled() else 0
            return quiet[0] >= 10

        wait_until(steady, timeout, "every task to finish")

    def check(self, expected: Expected, timelines: dict[str, set[int]] | None = None) -> Row:
        """Count what was stored against ``expected``; ``timelines`` maps follower feeds to the
        authors they follow. Adds the row to the table and returns it."""
        row = Row(self.name, sent=len(expected.surviving), dead_expected=expected.dead)
        engine = make_engine(self.url)
        with engine.connect() as conn:
            stored = set(conn.scalars(select(Tweet.id)))
            activities = conn.execute(select(Activity.id, Activity.actor, Activity.foreign_id))
            rows = [(a.id, a.actor, a.foreign_id) for a in activities]
            row.dead_letters = int(conn.scalar(select(func.count()).select_from(DeadLetter)) or 0)
            row.notes.append(f"{conn.scalar(select(func.count()).select_from(Follow))} follows")
        engine.dispose()
        row.stored = len(stored)
        row.lost = len(expected.surviving - stored)
        tweet_rows = [r for r in rows if r[2] and r[2].startswith("tweet:")]
        per_tweet = Counter(r[2] for r in tweet_rows)
        row.doubled = sum(n - 1 for n in per_tweet.values())
        # A surviving tweet without its activity is lost from the feeds.
        row.lost += len({ids.tweet_ref(t) for t in expected.surviving & stored} - set(per_tweet))
        gone = {ids.tweet_ref(t) for t in expected.deleted}
        row.undeleted = len(stored & expected.deleted) + sum(1 for r in tweet_rows if r[2] in gone)
        by_actor: dict[str, set[int]] = {}
        for activity_id, actor, _ in rows:
            by_actor.setdefault(actor, set()).add(activity_id)
        feeds = {ids.user_feed(a): by_actor.get(ids.user_feed(a), set()) for a in expected.authors}
        for feed, targets in (timelines or {}).items():
            feeds[feed] = set().union(*(by_actor.get(ids.user_feed(a), set()) for a in targets))
        row.feeds = len(feeds)
        for feed, want in feeds.items():
            held = {int(m) for m in self.redis.zrange(ids.redis_key(feed), 0, -1)}  # type: ignore[arg-type]
            row.feeds_exact += held == want
            if held != want and len(row.notes) < 6:
                row.notes.append(f"{feed}: {len(want - held)} missing {sorted(want - held)[:5]}, "
                                 f"{len(held - want)} extra {sorted(held - want)[:5]}")  # fmt: skip
        ROWS.append(row)
        return row

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session on the scenario's database, committed when the block ends."""
        engine = make_engine(self.url)
        try:
            with sessionmaker(engine).begin() as session:
                yield session
        finally:
            engine.dispose()

    def close(self) -> None:
        self.redis_server.kill()
