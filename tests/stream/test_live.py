"""The live listener end to end: real tweepy against the fake X API on 127.0.0.1, a real
Celery worker and beat, PostgreSQL and Redis."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from models import DeadLetter, StreamProcess, Tweet
from pipeline.control import apikeys, counters, redis_keys, terms
from pipeline.fakes.xapi import FakeXApi
from pipeline.settings import Settings
from pipeline.stream.lock import lock_key
from tests.conftest import TEST_REDIS_URL, Pipeline
from tests.helpers import BIN, ROOT, tweetfeed, wait_until

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)
TOKEN = "AAAA-live-test-bearer-token"
HEARTBEAT = 0.5
TIMING = {
    "TWEETFEED_STREAM_KEEPALIVE_SECONDS": "0.3",
    "TWEETFEED_HEARTBEAT_SECONDS": str(HEARTBEAT),
    "TWEETFEED_BACKOFF_SCALE": "0.01",
    "TWEETFEED_POLL_INTERVAL": "1",
    "TWEETFEED_BATCH_WAIT_MS": "50",
}


@pytest.fixture
def fake() -> Iterator[FakeXApi]:
    with FakeXApi(keepalive_interval=0.2, tweets_per_second=0, tokens=[TOKEN]) as api:
        yield api


class Processes:
    """Listener and beat subprocesses of one test, logs kept, all stopped at the end."""

    def __init__(self, pipeline: Pipeline, fake: FakeXApi, tmp: Path) -> None:
        self.env = {**pipeline.env, **TIMING, "TWEETFEED_X_API_BASE_URL": fake.base_url}
        self.tmp = tmp
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, *command: str, name: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("wb")
        process = subprocess.Popen(command, env=self.env, cwd=ROOT, stdout=log,
                                   stderr=subprocess.STDOUT)  # fmt: skip
        self.running.append(process)
        return process

    def listener(self, name: str = "listener") -> subprocess.Popen[bytes]:
        return self.start(str(BIN / "tweetfeed"), "listen", "main", name=name)

    def beat(self) -> subprocess.Popen[bytes]:
        schedule = str(self.tmp / "beat-schedule")
        return self.start(str(BIN / "celery"), "-A", "workers", "beat", "-s", schedule, name="beat")

    def log(self, name: str = "listener") -> str:
        return (self.tmp / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def live(pipeline: Pipeline, fake: FakeXApi, tmp_path: Path) -> Iterator[Processes]:
    pipeline.redis.delete(lock_key(TOKEN), redis_keys.TERMS_FINGERPRINT)
    with pipeline.db.sessions.begin() as session:
        apikeys.add(session, "main", Settings.from_env(pipeline.env), bearer_token=TOKEN)
    processes = Processes(pipeline, fake, tmp_path)
    yield processes
    processes.stop()
    for name in ("listener", "standby", "alias"):
        path = tmp_path / f"{name}.log"
        assert not path.exists() or TOKEN not in path.read_text(errors="replace")


def set_terms(pipeline: Pipeline, *wanted: str) -> dict[str, str]:
    """Make the enabled terms exactly ``wanted``; return {term id: term}."""
    with pipeline.db.sessions.begin() as session:
        for row in terms.all_terms(session):
            if row.term not in wanted:
                terms.remove(session, row.term)
        for term in wanted:
            terms.add(session, term)
        return {str(t.id): t.term for t in terms.enabled_terms(session)}


def rules_of(fake: FakeXApi) -> dict[str, str]:
    return {r["tag"]: r["value"] for r in fake.rules()}


def stored(pipeline: Pipeline) -> set[int]:
    with pipeline.db.sessions() as session:
        return set(session.scalars(select(Tweet.id)))


def eventually(check: Callable[[], object], timeout: float, what: str) -> None:
    wait_until(check, timeout, what)


def test_rules_follow_the_terms_table_within_the_poll_interval(
    pipeline: Pipeline, fake: FakeXApi, live: Processes
) -> None:
    live.beat()
    live.listener()
    limit = 1 + 2  # POLL_INTERVAL + 2 s
    for wanted in (("python",), ("python", "rust"), ("python", "go"), ("go",)):
        expected = set_terms(pipeline, *wanted)
        changed = time.monotonic()
        eventually(lambda e=expected: rules_of(fake) == e, 15, f"rules {wanted}")  # type: ignore[misc]
        elapsed = time.monotonic() - changed
        assert elapsed <= limit, f"rules for {wanted} took {elapsed:.1f} s"
        print(f"rules for {wanted} matched the table after {elapsed:.2f} s")
    assert fake.open_connections() == 1, "rules change in place, on the same connection"


def test_without_beat_the_listener_polls_the_terms_table_every_poll_interval(
    pipeline: Pipeline, fake: FakeXApi, live: Processes
) -> None:
    live.env["TWEETFEED_POLL_INTERVAL"] = "60"  # what --poll-interval overrides
    set_terms(pipeline, "python")
    live.start(str(BIN / "tweetfeed"), "listen", "main", "--poll-interval", "1", name="listener")
    eventually(lambda: fake.open_connections() == 1, 15, "the stream to connect")
    expected = set_terms(pipeline, "python", "rust")  # no beat: no control message comes
    changed = time.monotonic()
    eventually(lambda: rules_of(fake) == expected, 15, "the rules to follow the table")
    elapsed = time.monotonic() - changed
    assert elapsed <= 1 + 2, f"the listener saw the new term after {elapsed:.1f} s"


def test_live_to_file_writes_raw_lines_and_enqueues_nothing(
    pipeline: Pipeline, fake: FakeXApi, live: Processes, tmp_path: Path
) -> None:
    set_terms(pipeline, "python")
    out = tmp_path / "live.jsonl"
    live.start(str(BIN / "tweetfeed"), "listen", "main", "--to-file", str(out), name="listener")
    eventually(lambda: fake.open_connections() == 1, 15, "the stream to connect")
    sent = fake.send_tweets(25)

    def written() -> list[int]:
        lines = out.read_bytes().splitlines() if out.exists() else []
        return [int(json.loads(line)["data"]["id"]) for line in lines]

    eventually(lambda: len(written()) >= 25, 15, "the tweets in the file")
    assert written() == sent
    assert not stored(pipeline) and not pipeline.redis.llen("ingest")


def test_with_no_terms_there_is_no_open_connection(
    pipeline: Pipeline, fake: FakeXApi, live: Processes
) -> None:
    live.beat()
    live.listener()
    eventually(lambda: "idle" in live.log(), 15, "the listener to go idle")
    assert fake.connection_attempts == 0 and fake.open_connections() == 0
    set_terms(pipeline, "python")
    eventually(lambda: fake.open_connections() == 1, 15, "a connection once there is a term")
    set_terms(pipeline)
    eventually(lambda: fake.open_connections() == 0, 15, "the connection to close")
    eventually(lambda: rules_of(fake) == {}, 5, "the rules to be cleared")


def test_faults_reconnect_and_no_tweet_is_lost_or_stored_twice(
    pipeline: Pipeline, fake: FakeXApi, live: Processes
) -> None:
    set_terms(pipeline, "python")
    live.listener()
    eventually(lambda: fake.open_connections() == 1, 15, "the stream to connect")
    groups = [fake.send_tweets(20)]
    fake.fail_next(429)
    fake.operational_disconnect()
    eventually(lambda: fake.connection_attempts >= 3 and fake.open_connections() == 1, 20,
               "a reconnect after operational-disconnect and a 429")  # fmt: skip
    groups.append(fake.send_tweets(20))
    connects = live.log().count("-> connected")
    fake.stall(5)
    eventually(lambda: "stall" in live.log(), 10, "the stall to be noticed")
    eventually(
        lambda: live.log().count("-> connected") > connects and fake.open_connections() == 1,
        20, "a new connection after the stall, and the stalled one gone",
    )  # fmt: skip
    groups.append(fake.send_tweets(20))
    eventually(lambda: len(fake.sent_ids()) >= 60, 10, "the fake to write every tweet")
    sent = fake.sent_ids()
    assert [len(set(g) & set(sent)) for g in groups] == [20, 20, 20]
    assert len(sent) == len(set(sent)) == 60
    eventually(lambda: stored(pipeline) == set(sent), 30, "every sent tweet to be stored")
    log = live.log()
    assert "HTTP 429" in log and "the server closed the stream" in log


def test_a_hot_standby_takes_over_within_two_heartbeats_of_a_sigkill(
    pipeline: Pipeline, fake: FakeXApi, live: Processes
) -> None:
    set_terms(pipeline, "python")
    first = live.listener()
    eventually(lambda: fake.open_connections() == 1, 15, "the first listener to connect")
    live.listener("standby")
    eventually(lambda: "standby" in live.log("standby"), 15, "the second to wait as standby")
    lock = lock_key(TOKEN)
    holder = pipeline.redis.get(lock)
    os.kill(first.pid, signal.SIGKILL)
    killed = time.monotonic()
    eventually(lambda: pipeline.redis.get(lock) not in (None, holder), 10, "the lock to pass on")
    took = time.monotonic() - killed
    assert took <= 2 * HEARTBEAT + 0.25, f"takeover took {took:.2f} s"
    print(f"the standby held the lock {took:.2f} s after the SIGKILL (heartbeat {HEARTBEAT} s)")
    eventually(lambda: fake.open_connections() == 1 and "connected" in live.log("standby"), 15,
               "the standby to stream")  # fmt: skip
    fake.send_tweets(5)
    eventually(lambda: set(fake.sent_ids()) <= stored(pipeline), 30, "tweets via the standby")
    with pipeline.db.sessions() as session:
        states = {p.pid: p.state for p in session.scalars(select(StreamProcess))}
    eventually(lambda: first.pid not in _rows(pipeline), 15, "the dead listener's row to expire")
    assert states


def test_two_names_for_one_token_make_one_connection(
    pipeline: Pipeline, fake: FakeXApi, live: Processes
) -> None:
    set_terms(pipeline, "python")
    with pipeline.db.sessions.begin() as session:
        apikeys.add(session, "alias", Settings.from_env(pipeline.env), bearer_token=TOKEN)
    live.listener()
    eventually(lambda: fake.open_connections() == 1, 15, "the first listener to connect")
    live.start(str(BIN / "tweetfeed"), "listen", "alias", name="alias")
    eventually(lambda: "standby" in live.log("alias"), 15, "the second name to wait as standby")
    time.sleep(1)
    assert fake.open_connections() == 1
    assert "HTTP 429" not in live.log("alias"), "it never tried to connect"


def _rows(pipeline: Pipeline) -> set[int]:
    with pipeline.db.sessions() as session:
        return set(session.scalars(select(StreamProcess.pid)))


def test_a_truncated_line_is_dead_lettered_and_the_stream_goes_on(
    pipeline: Pipeline, fake: FakeXApi, live: Processes
) -> None:
    set_terms(pipeline, "python")
    live.listener()
    eventually(lambda: fake.open_connections() == 1, 15, "the stream to connect")
    fake.send_truncated()
    after = fake.send_tweets(3)
    eventually(lambda: set(after) <= stored(pipeline), 30, "the tweets after the bad line")
    with pipeline.db.sessions() as session:
        reasons = list(session.scalars(select(DeadLetter.reason)))
    assert len(reasons) == 1 and reasons[0].startswith("invalid JSON")


def test_secrets_stay_out_of_task_payloads_the_process_list_and_the_logs(
    pipeline: Pipeline, fake: FakeXApi, live: Processes
) -> None:
    # Broker and batches in a Redis database no worker reads, so the messages stay to be read.
    unread = f"{TEST_REDIS_URL}/14"
    broker = redis.Redis.from_url(unread)
    broker.flushdb()
    live.env.update(TWEETFEED_BROKER_URL=unread, TWEETFEED_REDIS_URL=unread)
    set_terms(pipeline, "python")
    listener = live.listener()
    eventually(lambda: fake.open_connections() == 1, 15, "the stream to connect")
    fake.send_tweets(3)
    messages = wait_until(lambda: broker.lrange("ingest", 0, -1), 15, "an ingest task message")
    assert all(TOKEN.encode() not in m for m in messages)
    assert b"x-v2:main" in base64.b64decode(json.loads(messages[0])["body"])
    assert TOKEN.encode() not in Path(f"/proc/{listener.pid}/cmdline").read_bytes()
    status = tweetfeed("status", env=live.env)
    assert status.returncode == 0 and b"main" in status.stdout
    assert TOKEN.encode() not in status.stdout + status.stderr
    live.stop()
    broker.flushdb()


def test_counters_record_tweets_per_term_and_keep_alives(
    pipeline: Pipeline, fake: FakeXApi, live: Processes
) -> None:
    (term_id,) = set_terms(pipeline, "python")
    live.listener()
    eventually(lambda: fake.open_connections() == 1, 15, "the stream to connect")
    fake.send_tweets(7)

    def counted() -> bool:
        minutes = [*counters.rates(pipeline.redis, 2), _this_minute(pipeline)]
        return sum(m.get(f"term:{term_id}", 0) for m in minutes) == 7

    eventually(counted, 15, "seven tweets counted for the term")
    listener = pipeline.redis.hgetall("{tweetfeed}:listener:main")
    assert listener[b"state"] == b"connected"
    assert int(listener[b"keep_alives"]) > 0 and int(listener[b"tweets_received"]) == 7


def _this_minute(pipeline: Pipeline) -> dict[str, int]:
    key = redis_keys.rate(int(time.time() // 60))
    return {k.decode(): int(v) for k, v in pipeline.redis.hgetall(key).items()}


def test_refused_keys_stop_the_listener_unless_prevent_exit_is_on(
    pipeline: Pipeline, fake: FakeXApi, live: Processes
) -> None:
    set_terms(pipeline, "python")
    with pipeline.db.sessions.begin() as session:
        apikeys.add(
            session, "main", Settings.from_env(pipeline.env), bearer_token="not-the-right-token"
        )
    first = live.listener()
    assert first.wait(timeout=30) == 1
    assert "HTTP 401" in live.log()
    live.env["TWEETFEED_PREVENT_EXIT"] = "true"
    second = live.listener("standby")
    eventually(lambda: live.log("standby").count("HTTP 401") >= 2, 20, "attempts to go on")
    assert second.poll() is None


def test_a_stall_under_load_is_noticed(pipeline: Pipeline, fake: FakeXApi, live: Processes) -> None:
    set_terms(pipeline, "python")
    live.listener()
    eventually(lambda: fake.open_connections() == 1, 15, "the stream to connect")
    fake.set_rate(200)
    eventually(lambda: len(fake.sent_ids()) >= 400, 15, "tweets flowing at 200/s")
    fake.stall(5)
    began = time.monotonic()
    eventually(lambda: "stall" in live.log(), 10, "the stall to be noticed under load")
    print(f"stall noticed {time.monotonic() - began:.2f} s after it began")
    fake.set_rate(0)
