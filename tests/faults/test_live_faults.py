"""The live listener's faults in one run: tweepy against the fake X API through a 429, an
operational-disconnect, a stall while 200 tweets a second arrive, a truncated line (the one
dead letter), a Redis that keeps nothing restarting and a worker SIGKILLed mid-batch;
then every count checked, and the bearer token looked for everywhere it must not be."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from models import Tweet
from pipeline.control import apikeys, terms
from pipeline.fakes.xapi import FakeXApi
from pipeline.settings import Settings
from pipeline.store.engine import make_engine
from tests.faults.harness import Expected, Scenario
from tests.faults.servers import PrivatePostgres
from tests.helpers import BIN, ROOT, tweetfeed, wait_until

TOKEN = "AAAA-faults-live-bearer-token-0123456789"
LIVE = {
    "TWEETFEED_STREAM_KEEPALIVE_SECONDS": "0.3",
    "TWEETFEED_HEARTBEAT_SECONDS": "0.5",
    "TWEETFEED_BACKOFF_SCALE": "0.01",
    "TWEETFEED_BATCH_SIZE": "20",
    "TWEETFEED_VISIBILITY_TIMEOUT": "10",  # a lost task is queued again after 20 s
}


@pytest.fixture
def fake() -> Iterator[FakeXApi]:
    with FakeXApi(keepalive_interval=0.2, tweets_per_second=0, tokens=[TOKEN]) as api:
        yield api


def column(run: Scenario, which: Any) -> set[int]:
    """The distinct values of a column of the scenario's tweets."""
    engine = make_engine(run.url)
    with engine.connect() as conn:
        found = set(conn.scalars(select(which)))
    engine.dispose()
    return found


def stored_ids(run: Scenario) -> set[int]:
    return column(run, Tweet.id)


def redis_values(run: Scenario) -> Iterator[Any]:
    """Every key and value in the scenario's Redis, whatever its type, as bytes."""
    client: Any = run.redis
    for key in client.scan_iter(count=1000):
        yield key
        kind = client.type(key)
        if kind == b"string":
            yield client.get(key) or b""
        elif kind == b"list":
            yield from client.lrange(key, 0, -1)
        elif kind == b"hash":
            for field, value in client.hgetall(key).items():
                yield field + b"=" + value
        elif kind == b"set":
            yield from client.smembers(key)
        elif kind == b"zset":
            yield from client.zrange(key, 0, -1)


def test_live_listener_faults(postgres: PrivatePostgres, tmp_path: Path, fake: FakeXApi) -> None:
    run = Scenario("live: 429, disconnect, stall under load, truncated line, Redis restart, "
                   "worker SIGKILL", postgres, tmp_path,
                   settings={**LIVE, "TWEETFEED_X_API_BASE_URL": fake.base_url})  # fmt: skip
    try:
        with run.session() as session:
            apikeys.add(session, "main", Settings.from_env(run.env), bearer_token=TOKEN)
            terms.add(session, "python")
        sent: list[int] = []
        log = tmp_path / "live-listener.log"
        with ExitStack() as stack:
            workers = [stack.enter_context(run.worker())]
            listener = subprocess.Popen(
                [str(BIN / "tweetfeed"), "listen", "main"],
                env=run.env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT,
            )  # fmt: skip
            stack.callback(stop, listener)
            connected = lambda: fake.open_connections() == 1  # noqa: E731
            wait_until(connected, 20, "the stream to connect")
            sent += fake.send_tweets(60)
            fake.fail_next(429)
            fake.operational_disconnect()
            wait_until(lambda: fake.connection_attempts >= 3 and connected(), 30, "a reconnect")
            sent += fake.send_tweets(60)
            wait_until(lambda: len(stored_ids(run)) >= 60, 60, "the first tweets stored")
            run.redis_server.kill()
            run.redis_server.start()
            wait_until(connected, 30, "the stream back after the Redis restart")
            connects = log.read_text().count("-> connected")
            fake.set_rate(200)
            time.sleep(1)
            fake.stall(5)  # under load: nothing at all, keep-alives included
            wait_until(lambda: "stall" in log.read_text(), 15, "the stall to be noticed")
            # What the fake would write to the stalled connection after the listener left it
            # is lost, as it is from X's own stream: stop the load first.
            fake.set_rate(0)
            again = lambda: log.read_text().count("-> connected") > connects  # noqa: E731
            wait_until(lambda: again() and connected(), 30, "a new connection, the stalled gone")
            fake.send_truncated()
            sent += fake.send_tweets(200)
            run.kill(workers[-1])  # likely mid-batch: 200 tweets are arriving
            workers.append(stack.enter_context(run.worker()))
            sent += fake.send_tweets(60)
            # Tweets pushed while no stream was open are not sent (as on X); what counts is
            # every tweet the fake wrote whole: the pushed ones and the 200/s load's.
            wait_until(lambda: len(fake.sent_ids()) >= len(set(sent)) // 2, 30, "tweets written")
            time.sleep(1)
            sent = fake.sent_ids()
            wait_until(lambda: stored_ids(run) >= set(sent), 120, "every tweet to be stored")
            run.wait_settled()
        # The lock went with Redis's data; the listener took it again and kept its stream
        # (closing it would have lost what the fake had already written to it).
        assert "lost the stream lock" not in log.read_text()
        rebuilt = tweetfeed("feeds", "rebuild", env=run.env, timeout=300)
        assert rebuilt.returncode == 0, rebuilt.stderr.decode()
        authors = column(run, Tweet.author_id)
        row = run.check(Expected(frozenset(sent), frozenset(), frozenset(authors), dead=1))
        status = tweetfeed("status", env=run.env, timeout=60)
        places: dict[str, list[Any]] = {
            "listener log": [log.read_bytes()],
            "worker logs": [p.read_bytes() for p in tmp_path.glob("*worker-*.log")],
            "Redis": list(redis_values(run)),
            "stream_processes, dead_letters, api_keys": sql_text(run),
            "`tweetfeed status`": [status.stdout, status.stderr],
        }
        leaks = [
            where for where, blobs in places.items() if any(TOKEN.encode() in b for b in blobs)
        ]
        row.notes.append(f"token found in: {leaks}")
        assert "HTTP 429" in log.read_text() and "handed on again" in log.read_text()
        assert not leaks, leaks
        assert row.exact, row
    finally:
        run.close()


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def sql_text(run: Scenario) -> list[Any]:
    engine = make_engine(run.url)
    with engine.connect() as conn:
        rows = [
            str(row).encode()
            for table in ("stream_processes", "dead_letters", "api_keys")
            for row in conn.execute(text(f"SELECT * FROM {table}"))
        ]
    engine.dispose()
    return rows
