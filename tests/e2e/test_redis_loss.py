"""A Redis that keeps nothing loses what the listener parked and queued when it restarts, or is
not there yet when a replay starts: the listener hands every batch on again, and every tweet is
stored."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path
from typing import IO

import pytest
import redis
from sqlalchemy import func, select

from models import Tweet
from pipeline.control import apikeys, terms
from pipeline.fakes.xapi import FakeXApi
from pipeline.settings import Settings
from tests.conftest import Database
from tests.factories import line, v1_tweet
from tests.helpers import BIN, ROOT, RedisServer, clean_env, tweetfeed, wait_until, worker

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)

TOKEN = "AAAA-redis-loss-bearer-token"
TWEETS = 1_200
BATCH = 100


def stored(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Tweet)) or 0)


def environment(db: Database, redis_url: str, tmp_path: Path, **more: str) -> dict[str, str]:
    return clean_env(**{"TWEETFEED_DATABASE_URL": db.url, "TWEETFEED_REDIS_URL": redis_url,
                        "TWEETFEED_VAR_DIR": str(tmp_path / "var"),
                        "TWEETFEED_BATCH_SIZE": str(BATCH), **more})  # fmt: skip


def stream_file(path: Path) -> Path:
    """TWEETS distinct tweets and every tenth one sent twice."""
    lines = [line(v1_tweet(5_000 + n, f"tweet {n}")) for n in range(TWEETS)]
    lines += lines[::10]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def replaying(path: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(BIN / "tweetfeed"), "listen", "--from-file", str(path), "--commit-wait", "120"],
        env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def test_batches_lost_by_a_redis_restart_are_handed_on_again(db: Database, tmp_path: Path) -> None:
    server = RedisServer(tmp_path).start()
    env = environment(db, server.url(), tmp_path)
    client = redis.Redis.from_url(server.url())
    log = tmp_path / "listener.log"
    listener = replaying(stream_file(tmp_path / "in.jsonl"), env, log)
    try:
        # No worker yet: every batch waits in Redis, parked and queued, when Redis dies.
        wait_until(lambda: b"handed on" in log.read_bytes(), 60, "the replay to hand on")
        assert client.llen("ingest") == -(-(TWEETS + TWEETS // 10) // BATCH)
        server.kill()
        server.start()
        assert client.dbsize() == 0
        with worker(env, tmp_path / "worker.log"):
            assert listener.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        listener.kill()
        server.kill()
    out = log.read_text()
    assert "handed on again" in out
    assert "every batch is committed" in out
    assert stored(db) == TWEETS


def test_a_replay_waits_out_redis_going_away_and_stores_everything(
    db: Database, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path).start()
    env = environment(db, server.url(), tmp_path, TWEETFEED_BATCH_WAIT_MS="50")
    client = redis.Redis.from_url(server.url())
    lines = stream_file(tmp_path / "in.jsonl").read_bytes().splitlines(keepends=True)
    log = tmp_path / "listener.log"
    listener = subprocess.Popen(
        [str(BIN / "tweetfeed"), "listen", "--from-file", "-", "--commit-wait", "120"],
        env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert listener.stdin is not None
    try:
        listener.stdin.write(b"".join(lines[:500]))
        listener.stdin.flush()
        wait_until(lambda: parked_lines(client) == 500, 30, "the first lines to be parked")
        server.kill()  # mid-run: what was parked is gone, and the next batch cannot go
        rest = threading.Thread(target=feed, args=(listener.stdin, b"".join(lines[500:])))
        rest.start()  # the pipe fills while the replay waits
        wait_until(lambda: b"trying again" in log.read_bytes(), 30, "the replay to wait")
        assert listener.poll() is None, log.read_text()
        server.start()
        with worker(env, tmp_path / "worker.log"):
            assert listener.wait(timeout=120) == 0, log.read_text()[-3000:]
        rest.join(timeout=10)
    finally:
        listener.kill()
        server.kill()
    out = log.read_text()
    assert "handed on again" in out and "every batch is committed" in out
    assert stored(db) == TWEETS


def feed(pipe: IO[bytes], data: bytes) -> None:
    pipe.write(data)
    pipe.close()


def test_a_replay_with_no_redis_at_all_stops_at_once(db: Database, tmp_path: Path) -> None:
    env = environment(db, "redis://127.0.0.1:1/0", tmp_path)
    result = tweetfeed("listen", "--from-file", "-", env=env, stdin=b"{}\n", timeout=30)
    assert result.returncode == 1
    assert b"replay stopped" in result.stderr


def test_a_live_listener_hands_on_again_what_a_redis_restart_lost(
    db: Database, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path).start()
    client = redis.Redis.from_url(server.url())
    with FakeXApi(keepalive_interval=0.2, tweets_per_second=0, tokens=[TOKEN]) as fake:
        env = environment(db, server.url(), tmp_path,
                        TWEETFEED_X_API_BASE_URL=fake.base_url, TWEETFEED_BATCH_SIZE="10",
                        TWEETFEED_BATCH_WAIT_MS="50", TWEETFEED_HEARTBEAT_SECONDS="0.5",
                        TWEETFEED_STREAM_KEEPALIVE_SECONDS="0.3",
                        TWEETFEED_BACKOFF_SCALE="0.01")  # fmt: skip
        with db.sessions.begin() as session:
            apikeys.add(session, "main", Settings.from_env(env), bearer_token=TOKEN)
            terms.add(session, "python")
        log = tmp_path / "listener.log"
        listener = subprocess.Popen(
            [str(BIN / "tweetfeed"), "listen", "main"],
            env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            wait_until(lambda: fake.open_connections() == 1, 15, "the stream to connect")
            sent = fake.send_tweets(40)
            # No worker yet: the 40 tweets wait in Redis, parked and queued, when Redis dies.
            wait_until(lambda: parked_lines(client) == 40, 15, "the listener to park them")
            server.kill()
            server.start()
            assert client.dbsize() == 0
            with worker(env, tmp_path / "worker.log"):
                wait_until(lambda: stored_ids(db) == set(sent), 60, "every tweet to be stored")
        finally:
            listener.terminate()
            listener.wait(timeout=20)
            server.kill()
    assert "handed on again" in log.read_text()


def parked_lines(client: redis.Redis) -> int:
    return sum(client.llen(key) for key in client.scan_iter("{tweetfeed}:batch:*"))


def stored_ids(db: Database) -> set[int]:
    with db.sessions() as session:
        return set(session.scalars(select(Tweet.id)))


def test_the_next_listener_hands_on_what_a_gone_one_left_unconfirmed(
    db: Database, tmp_path: Path
) -> None:
    server = RedisServer(tmp_path).start()
    env = environment(db, server.url(), tmp_path)
    path = stream_file(tmp_path / "in.jsonl")
    try:
        first = tweetfeed("listen", "--from-file", str(path), "--source", "nightly",
                          "--commit-wait", "0", env=env)  # fmt: skip
        assert first.returncode == 0, first.stderr.decode()
        left = list((tmp_path / "var" / "handoff" / "nightly").glob("*/*.batch"))
        assert len(left) == -(-(TWEETS + TWEETS // 10) // BATCH)
        server.kill()
        server.start()
        with worker(env, tmp_path / "worker.log"):
            second = tweetfeed("listen", "--from-file", "-", "--source", "nightly",
                               "--commit-wait", "60", env=env, stdin=b"")  # fmt: skip
    finally:
        server.kill()
    out = second.stdout.decode() + second.stderr.decode()
    assert second.returncode == 0, out
    assert "not confirmed yet" in out and "every batch is committed" in out
    assert stored(db) == TWEETS
    assert not list((tmp_path / "var" / "handoff" / "nightly").glob("*/*.batch"))
