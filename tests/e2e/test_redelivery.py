"""A worker killed in the middle of a batch: another worker gets the batch within
VISIBILITY_TIMEOUT and stores it, exactly once."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select, text

from models import Tweet
from pipeline.bus import routes
from pipeline.bus.client import Client
from tests.conftest import TEST_REDIS_URL, Database
from tests.factories import line, v1_tweet
from tests.helpers import clean_env, wait_until, worker

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)

REDIS_URL = f"{TEST_REDIS_URL}/14"
VISIBILITY = 3


def setting_up(db: Database, tmp_path: Path, visibility: int) -> tuple[redis.Redis, dict[str, str]]:
    """An emptied Redis database and the workers' environment."""
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    env = clean_env(TWEETFEED_DATABASE_URL=db.url, TWEETFEED_REDIS_URL=REDIS_URL,
                    TWEETFEED_VAR_DIR=str(tmp_path),
                    TWEETFEED_VISIBILITY_TIMEOUT=str(visibility))  # fmt: skip
    return client, env


def stored(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Tweet)) or 0)


def test_a_batch_whose_worker_was_killed_is_stored_by_another_within_the_timeout(
    db: Database, tmp_path: Path
) -> None:
    client, env = setting_up(db, tmp_path, VISIBILITY)
    lines = [line(v1_tweet(900 + n)).decode() for n in range(3)]
    with db.engine.connect() as blocker:
        # The batch's insert waits on this lock, so the worker is killed mid-batch.
        blocker.execute(text("LOCK TABLE tweets IN ACCESS EXCLUSIVE MODE"))
        with worker(env, tmp_path / "first.log") as first:
            with Client(REDIS_URL) as sender:
                sender.send(routes.INGEST_BATCH, lines=lines, source="redelivery")
            wait_until(lambda: client.hlen("unacked") == 1 and not client.llen("ingest"),
                       30, "the first worker to take the batch")  # fmt: skip
            time.sleep(0.5)
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
        blocker.rollback()
    killed = time.monotonic()
    with worker(env, tmp_path / "second.log"):
        wait_until(lambda: stored(db) == 3, VISIBILITY + 30, "another worker to store the batch")
        took = time.monotonic() - killed
        wait_until(lambda: not client.hlen("unacked") and not client.llen("ingest"),
                   30, "the batch to be acknowledged")  # fmt: skip
    print(f"stored {took:.1f} s after the kill (VISIBILITY_TIMEOUT {VISIBILITY} s)")
    assert stored(db) == 3


def test_a_killed_workers_batch_goes_back_within_seconds_whatever_the_timeout(
    db: Database, tmp_path: Path
) -> None:
    client, env = setting_up(db, tmp_path, 600)
    lines = [line(v1_tweet(950 + n)).decode() for n in range(3)]
    with db.engine.connect() as blocker:
        blocker.execute(text("LOCK TABLE tweets IN ACCESS EXCLUSIVE MODE"))
        with worker(env, tmp_path / "first.log") as first:
            with Client(REDIS_URL) as sender:
                sender.send(routes.INGEST_BATCH, lines=lines, source="reclaim")
            wait_until(lambda: client.hlen("unacked") == client.hlen("tweetfeed:inflight") == 1,
                       30, "the first worker to take the batch")  # fmt: skip
            assert b"first" in client.hvals("tweetfeed:inflight")[0]
            with worker(env, tmp_path / "second.log"):
                os.killpg(first.pid, signal.SIGKILL)
                first.wait(timeout=30)
                killed = time.monotonic()
                blocker.rollback()
                wait_until(lambda: stored(db) == 3, 60, "the second worker to store the batch")
                took = time.monotonic() - killed
                wait_until(lambda: not client.hlen("unacked"), 30, "the batch to be acknowledged")
                wait_until(lambda: not client.hlen("tweetfeed:inflight"), 30, "its record to go")
    print(f"stored {took:.1f} s after the kill (VISIBILITY_TIMEOUT 600 s)")
    assert took < 30
