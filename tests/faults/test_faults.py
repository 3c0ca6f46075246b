"""The fault scenarios. Each fails unless its row is exact: nothing lost, nothing doubled, no
deleted tweet left, exactly the bad lines dead-lettered and every feed holding exactly what it
should."""

from __future__ import annotations

import pickle
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import pytest
from kombu import Connection, Producer

from pipeline.bus.client import Client
from pipeline.bus.sender import queue
from pipeline.fakes.synth.lines import generate
from tests.factories import line, v1_tweet
from tests.faults.harness import Expected, Scenario
from tests.faults.servers import PrivatePostgres, wait_for_postgres
from tests.helpers import tweetfeed, wait_until

LINES = 12_000
full = pytest.mark.faults_full


@pytest.fixture
def scenario(
    request: pytest.FixtureRequest, postgres: PrivatePostgres, tmp_path: Path
) -> Iterator[Any]:
    made: list[Scenario] = []

    def make(name: str, *persist: str, **settings: str) -> Scenario:
        made.append(Scenario(name, postgres, tmp_path, persist, settings))
        return made[-1]

    yield make
    for each in made:
        each.close()


def synthetic(path: Path, count: int = LINES, seed: int = 11) -> list[bytes]:
    lines = [raw.rstrip(b"\r\n") for raw in generate(count, "v1", seed)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return lines


def followers_of(expected: Expected, feeds: int = 30, each: int = 10) -> dict[str, set[int]]:
    """``feeds`` timelines, each following ``each`` of the stream's authors."""
    authors = sorted(expected.authors)
    return {f"timeline:{n}": {authors[(n * 7 + k) % len(authors)] for k in range(each)}
            for n in range(feeds)}  # fmt: skip


def follow(run: Scenario, timelines: dict[str, set[int]]) -> None:
    pairs = [
        {"feed": f, "target": f"user:{a}"} for f, targets in timelines.items() for a in targets
    ]
    with Client(run.redis_server.url()) as client:
        for start in range(0, len(pairs), 500):
            client.follow_many(pairs[start : start + 500])
    run.wait_settled()


def assert_exact(row: Any) -> None:
    assert row.exact, row


def ingest_with(run: Scenario, fault: Any, at: tuple[float, ...]) -> None:
    """Replay a synthetic stream with follows in place; call ``fault(worker)`` when the workers
    have done each fraction ``at`` of the lines; then check every count."""
    lines = synthetic(run.folder / "stream.jsonl")
    expected = Expected.of(lines)
    timelines = followers_of(expected)
    workers: list[Any] = []
    with run.worker() as first:
        follow(run, timelines)
        listener = run.replay(run.folder / "stream.jsonl")
        workers.append(first)
        for fraction in at:
            share = int(fraction * len(lines))
            wait_until(partial(reached, run, share), 180, f"{fraction:.0%} of the lines")
            fault(workers)
        assert listener.wait(timeout=300) == 0, (run.folder / "listener.log").read_text()[-2000:]
        run.wait_settled()
    assert_exact(run.check(expected, timelines))


def reached(run: Scenario, lines: int) -> bool:
    return run.lines_done() >= lines


def test_worker_sigkill_mid_ingest_twice(scenario: Any) -> None:
    run = scenario("worker SIGKILL mid-ingest, twice")
    with ExitStack() as stack:

        def kill_and_replace(workers: list[Any]) -> None:
            run.kill(workers[-1])
            workers.append(stack.enter_context(run.worker()))

        ingest_with(run, kill_and_replace, at=(0.25, 0.5))


@full
def test_postgres_crash_mid_ingest(scenario: Any) -> None:
    run = scenario("PostgreSQL crash (immediate stop) mid-ingest")

    def crash(workers: list[Any]) -> None:
        run.postgres.crash_and_restart()
        wait_for_postgres(run.url)

    ingest_with(run, crash, at=(0.3,))


@full
def test_redis_restart_without_persistence_mid_ingest(scenario: Any) -> None:
    """What Redis held is gone: the listener hands its batches on again, and the feeds, which
    are Redis's, are written back from SQL with `tweetfeed feeds rebuild` as the README says."""
    run = scenario("Redis (no persistence) restart mid-ingest, replay")
    lines = synthetic(run.folder / "stream.jsonl")
    expected = Expected.of(lines)
    timelines = followers_of(expected)
    with run.worker():
        follow(run, timelines)
        listener = run.replay(run.folder / "stream.jsonl")
        wait_until(lambda: run.lines_done() >= 0.3 * len(lines), 180, "30% of the lines")
        run.redis_server.kill()
        run.redis_server.start()
        assert listener.wait(timeout=300) == 0, (run.folder / "listener.log").read_text()[-2000:]
        run.wait_settled()
    assert "handed on again" in (run.folder / "listener.log").read_text()
    rebuilt = tweetfeed("feeds", "rebuild", env=run.env, timeout=300)
    assert rebuilt.returncode == 0, rebuilt.stderr.decode()
    assert_exact(run.check(expected, timelines))


@full
def test_redis_restart_with_aof_mid_ingest(scenario: Any) -> None:
    run = scenario("Redis (AOF) SIGKILL and restart mid-ingest, replay", "--appendonly", "yes")

    def restart(workers: list[Any]) -> None:
        run.redis_server.kill()
        run.redis_server.start()

    ingest_with(run, restart, at=(0.3,))


def test_worker_sigkill_mid_fanout_twice(scenario: Any) -> None:
    run = scenario("worker SIGKILL mid-fan-out, twice", TWEETFEED_FANOUT_CHUNK_SIZE="100")
    timelines = {f"timeline:f{n}": {1} for n in range(3_000)}
    activities = 30
    with ExitStack() as stack:
        workers = [stack.enter_context(run.worker())]
        follow(run, timelines)
        with Client(run.redis_server.url()) as client:
            for n in range(activities):
                client.add_activity(actor="user:1", verb="tweet", object=f"post:{n}")
        for _ in range(2):
            wait_until(lambda: run.redis.llen("fanout") or run.redis.hlen("unacked"), 60,
                       "fan-out chunks to be queued")  # fmt: skip
            run.kill(workers[-1])
            workers.append(stack.enter_context(run.worker()))
        run.wait_settled()
    row = run.check(Expected(frozenset(), frozenset(), frozenset({1})), timelines)
    assert_exact(row)
    members = run.redis.zcard("tweetfeed:feed:timeline:f2999")
    assert members == activities


def test_poison_records_among_good_ones(scenario: Any) -> None:
    run = scenario("poison records in good batches")
    good = [raw.rstrip(b"\r\n") for raw in generate(2_000, "v1", 5)]
    bad = [
        b'{"id": 1, "text": ',  # truncated JSON
        b"not json at all",
        b'{"id_str": "12", "text": "caf\xe9"}',  # invalid UTF-8
        b"[1, 2, 3]",  # the wrong shape
        b'{"text": "no id", "user": {"id_str": "1"}}',
        line(v1_tweet(2**63)),  # past BIGINT
        line(v1_tweet(-5)),
        b'{"id": 77, "id_str": "78", "text": "x", "user": {"id": 1, "id_str": "1"}}',
        b'{"data": 5}',
        b'{"id": "' + b"9" * (10 << 20) + b'"}',  # 10 MB, past MAX_LINE_BYTES: a sample is kept
    ]
    lines: list[bytes] = []
    for index, record in enumerate(good):
        lines.append(record)
        if index % 200 == 100:
            lines.append(bad[len(lines) % len(bad)])
    lines += bad
    path = run.folder / "poison.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    sent_bad = sum(1 for ln in lines if ln in bad)
    expected = Expected.of(good, dead=len(set(bad)))
    with run.worker():
        listener = run.replay(path)
        assert listener.wait(timeout=300) == 0, (run.folder / "listener.log").read_text()[-2000:]
        run.wait_settled()
    row = run.check(expected)
    row.notes.append(f"{sent_bad} bad lines sent, {len(set(bad))} distinct")
    assert_exact(row)


def raw_messages(broker: str) -> int:
    """Messages no Celery client would send: a body that is not JSON, a pickle (a content type
    the workers refuse), and a JSON body with no task name. Returns how many."""
    task = {"task": "tweetfeed.add_activity", "id": str(uuid.uuid4()), "lang": "py"}
    messages = [
        (b"\xff\xfe{not json", "application/json", "utf-8", task),
        (pickle.dumps({"actor": "user:1"}), "application/x-python-serialize", "binary", task),
        (b'{"hello": "world"}', "application/json", "utf-8", {}),
    ]
    target = queue("fanout")
    with Connection(broker) as connection:
        producer = Producer(connection)
        for body, content_type, encoding, headers in messages:
            producer.publish(body, exchange=target.exchange, routing_key="fanout",
                             declare=[target], content_type=content_type,
                             content_encoding=encoding, headers=headers)  # fmt: skip
    return len(messages)


def test_every_public_task_with_bad_payloads(scenario: Any) -> None:
    """Wrong types, missing fields, out-of-range numbers and huge lists on every public task, an
    unknown task name and messages that are no task at all: each is dead-lettered, none stops
    the worker, and a good task after them still runs."""
    run = scenario("public tasks with bad payloads")
    bad: list[tuple[str, dict[str, Any]]] = [
        ("tweetfeed.ingest_batch", {"lines": "not a list", "source": "x"}),
        ("tweetfeed.ingest_batch", {"source": "x"}),
        ("tweetfeed.ingest_batch", {"lines": ["{}"], "source": "x", "received_at": 1e300}),
        ("tweetfeed.ingest_batch", {"lines": ["{}"], "source": "x", "truncated": [[-1, 5]]}),
        ("tweetfeed.add_activity", {"actor": 5, "verb": "tweet", "object": "x"}),
        ("tweetfeed.add_activity", {"verb": "tweet"}),
        ("tweetfeed.remove_activity", {"activity_id": 10**30}),
        ("tweetfeed.follow", {"feed": "timeline:1", "target": "user:2", "backfill": 10**20}),
        ("tweetfeed.follow", {"feed": "no colon", "target": "user:2"}),
        ("tweetfeed.follow_many", {"follows": [{"feed": "timeline:1"}] * 200_000}),
        ("tweetfeed.unfollow", {"feed": ["a"], "target": {}}),
        ("tweetfeed.broadcast", {"activity": "x", "feeds": "y"}),
    ]
    with run.worker():
        with Client(run.redis_server.url()) as client:
            for name, payload in bad:
                client.send(name, **payload)
            client.sender.send("tweetfeed.no_such_task", {"x": 1}, queue="fanout")
        undecodable = raw_messages(run.redis_server.url())
        with Client(run.redis_server.url()) as client:
            client.add_activity(actor="user:9", verb="tweet", object="post:ok")
        run.wait_settled()
        dead = len(bad) + 1 + undecodable
        row = run.check(Expected(frozenset(), frozenset(), frozenset({9}), dead=dead))
    row.notes.append(orjson.dumps([n for n, _ in bad]).decode())
    assert_exact(row)


@full
def test_one_capture_replayed_three_times_at_once_with_deletes_first(scenario: Any) -> None:
    """Bursts of duplicate deliveries: three listeners replay the same capture together into
    two worker processes, and each delete notice comes before its tweet."""
    run = scenario("same capture x3 at once, deletes before tweets")
    lines = synthetic(run.folder / "base.jsonl", count=6_000, seed=3)
    deletes = [ln for ln in lines if b'"delete"' in ln]
    ordered = deletes + [ln for ln in lines if b'"delete"' not in ln]
    path = run.folder / "stream.jsonl"
    path.write_bytes(b"\n".join(ordered) + b"\n")
    expected = Expected.of(ordered)
    timelines = followers_of(expected)
    with run.worker():
        follow(run, timelines)
        listeners = [run.replay(path) for _ in range(3)]
        for listener in listeners:
            assert listener.wait(timeout=300) == 0
        run.wait_settled()
    assert_exact(run.check(expected, timelines))
