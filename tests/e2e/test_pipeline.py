"""The whole ingest path: ``tweetfeed listen`` → Redis → a real Celery worker → each database."""

from __future__ import annotations

import gzip
from pathlib import Path

from sqlalchemy import func, select

from models import DeadLetter, Tweet
from pipeline.bus import routes
from pipeline.bus.sender import TaskSender
from tests.conftest import Pipeline
from tests.factories import line, v1_delete, v1_tweet
from tests.helpers import expected_ids, json_lines, real_fixture, tweetfeed, wait_until

V1_STREAM = "v1_stream_python-twitter_lines.jsonl"
V2_BROKEN = "v2_stream_twarc-csv_streaming_output_with_error.jsonl"


def stored_ids(p: Pipeline) -> set[int]:
    with p.db.sessions() as session:
        return set(session.scalars(select(Tweet.id)))


def dead_letters(p: Pipeline) -> list[tuple[str, str, bytes]]:
    with p.db.sessions() as session:
        query = select(DeadLetter.source, DeadLetter.reason, DeadLetter.payload)
        return [tuple(row) for row in session.execute(query.order_by(DeadLetter.id))]  # type: ignore[misc]


def listen(p: Pipeline, *args: str, stdin: bytes | None = None, **env: str) -> bytes:
    result = tweetfeed("listen", *args, env={**p.env, **env}, stdin=stdin)
    assert result.returncode == 0, result.stderr.decode()
    p.wait_idle()
    return result.stdout


def test_a_real_capture_is_stored_with_exactly_its_unique_ids(pipeline: Pipeline) -> None:
    path = real_fixture(V1_STREAM)
    out = listen(pipeline, "--from-file", str(path))
    assert b"handed on 72 of 72 lines" in out
    assert stored_ids(pipeline) == expected_ids(path, capture=False)
    assert len(stored_ids(pipeline)) == 71, "the one duplicate delivery is stored once"


def test_gzip_on_stdin_is_read_as_gzip(pipeline: Pipeline) -> None:
    path = real_fixture(V1_STREAM)
    out = listen(pipeline, "--from-file", "-", stdin=gzip.compress(path.read_bytes()))
    assert b"handed on 72 of 72 lines" in out
    assert stored_ids(pipeline) == expected_ids(path, capture=False)
    assert not dead_letters(pipeline)


def test_capture_is_decided_by_the_workers_settings_not_the_listeners(
    pipeline: Pipeline,
) -> None:
    path = real_fixture("v1_original_format_tweet_parser_examples.jsonl")
    listen(pipeline, "--from-file", str(path), TWEETFEED_CAPTURE_EMBEDDED="true")
    # The worker reads its own settings: capture is off there, so embedded tweets are not
    # stored even though the listener had it on. The listener never parses.
    assert stored_ids(pipeline) == expected_ids(path, capture=False)


def test_the_truncated_line_is_dead_lettered_and_the_lines_around_it_stored(
    pipeline: Pipeline,
) -> None:
    path = real_fixture(V2_BROKEN)
    listen(pipeline, "--from-file", str(path))
    assert stored_ids(pipeline) == expected_ids(path, capture=False)
    ((source, reason, payload),) = dead_letters(pipeline)
    assert source == f"file:{path}"
    assert reason.startswith("invalid JSON")
    assert payload == path.read_bytes().split(b"\n")[-1]


def test_replaying_the_same_file_twice_adds_no_rows(pipeline: Pipeline) -> None:
    path = real_fixture(V2_BROKEN)
    listen(pipeline, "--from-file", str(path))
    first = (stored_ids(pipeline), dead_letters(pipeline))
    listen(pipeline, "--from-file", str(path))
    assert (stored_ids(pipeline), dead_letters(pipeline)) == first


def test_stdin_with_crlf_keep_alives_and_bad_lines_never_blocks_good_ones(
    pipeline: Pipeline,
) -> None:
    good = [line(v1_tweet(i, text="ünïcödé 🚀")) for i in range(1000, 1010)]
    bad = [b"\xff\xfe not utf-8", b'{"id": 5, "text": "cut sho', b'["a", "list"]', b"x" * 5000]
    stream = b"\r\n".join([good[0], b"", *bad, b"", *good[1:], v1_delete(1009)]) + b"\r\n"
    out = listen(pipeline, "--from-file", "-", stdin=stream, TWEETFEED_MAX_LINE_BYTES="4096")
    assert b"handed on 15 of 15 lines" in out and b"2 keep-alives, 1 oversize" in out
    assert stored_ids(pipeline) == set(range(1000, 1009))
    reasons = sorted(reason.split(":")[0] for _, reason, _ in dead_letters(pipeline))
    assert reasons == ["invalid JSON", "invalid UTF-8", "oversize line", "wrong shape"]
    with pipeline.db.sessions() as session:
        text = session.scalar(select(Tweet.text).where(Tweet.id == 1000))
    assert text == "ünïcödé 🚀"


def test_length_delimited_gzip_files_are_replayed(pipeline: Pipeline, tmp_path: Path) -> None:
    lines = [line(v1_tweet(i)) + b"\r\n" for i in range(2000, 2050)]
    path = tmp_path / "stream.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"".join(b"%d\r\n%s" % (len(x), x) for x in lines))
    listen(pipeline, "--from-file", str(path), "--delimited", "length")
    assert stored_ids(pipeline) == set(range(2000, 2050))


def test_another_app_can_send_lines_inline_by_task_name(pipeline: Pipeline) -> None:
    sender = TaskSender(pipeline.redis_url)
    lines = [line(v1_tweet(i)).decode() for i in (3000, 3001, 3000)]
    sender.send(routes.INGEST_BATCH, {"lines": lines, "source": "other-app"})
    wait_until(lambda: stored_ids(pipeline) == {3000, 3001}, 30, "inline lines to be stored")


def test_a_batch_parked_under_the_keys_of_before_the_namespace_is_still_stored(
    pipeline: Pipeline,
) -> None:
    """A task queued by a listener of an earlier release names its batch ``tweetfeed:batch:…``;
    a worker of this one still stores it, and releases it."""
    old = "tweetfeed:batch:queued-before-the-upgrade"
    pipeline.redis.rpush(old, line(v1_tweet(3100)), line(v1_tweet(3101)))
    TaskSender(pipeline.broker_url).send(routes.INGEST_BATCH, {"batch": old, "source": "x"})
    wait_until(lambda: stored_ids(pipeline) == {3100, 3101}, 30, "the old batch to be stored")
    wait_until(lambda: not pipeline.redis.exists(old), 10, "the old batch to be released")
    assert not dead_letters(pipeline)


def test_a_bad_payload_is_dead_lettered_with_its_reason_and_not_retried(
    pipeline: Pipeline,
) -> None:
    sender = TaskSender(pipeline.redis_url)
    sender.send(routes.INGEST_BATCH, {"lines": "not a list", "source": "other-app"})
    letters = wait_until(lambda: dead_letters(pipeline), 30, "the bad payload's dead letter")
    ((source, reason, payload),) = letters
    assert source == "task:tweetfeed.ingest_batch"
    assert reason == "bad payload: 'lines' must be a list of strings"
    assert b"not a list" in payload
    wait_until(lambda: pipeline.redis.llen("ingest") == 0, 10, "the queue to drain")


def test_many_batches_from_a_synthetic_stream_are_all_stored(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    path = tmp_path / "synth.jsonl"
    made = tweetfeed("synth", "--count", "3000", "--out", str(path), env=pipeline.env)
    assert made.returncode == 0
    listen(pipeline, "--from-file", str(path), TWEETFEED_BATCH_SIZE="200")
    with pipeline.db.sessions() as session:
        stored = session.scalar(select(func.count()).select_from(Tweet))
    wanted = expected_ids(path, capture=False)
    deleted = {int(m["delete"]["status"]["id"]) for m in json_lines(path) if "delete" in m}
    assert stored_ids(pipeline) == wanted - deleted
    assert stored == len(wanted - deleted)
    stats = pipeline.redis.hgetall("{tweetfeed}:stats")
    assert int(stats[b"lines"]) == 3000


def test_the_listener_fails_loudly_when_redis_is_unreachable(pipeline: Pipeline) -> None:
    path = real_fixture(V1_STREAM)
    result = tweetfeed(
        "listen", "--from-file", str(path),
        env={**pipeline.env, "TWEETFEED_REDIS_URL": "redis://127.0.0.1:1/0"},
    )  # fmt: skip
    assert result.returncode == 1
    assert b"replay stopped" in result.stderr
