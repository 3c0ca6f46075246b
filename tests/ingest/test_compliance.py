"""``tweetfeed deletes --from-file``: an X API compliance-job file applied through the listener's
replay path and a real worker (PostgreSQL, Redis), as delete notices."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from models import DeadLetter, load_tweet_model
from pipeline.feeds.read import FlatFeed, get_feed
from tests.conftest import Pipeline
from tests.factories import v1_tweet
from tests.helpers import tweetfeed
from tests.scenario import graph_and_stream, listen, stream

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


def shown(p: Pipeline, feed: str) -> list[str]:
    found = get_feed(feed, p.runtime())
    assert isinstance(found, FlatFeed)
    return [a.foreign_id for a in found[:]]


def job_line(tweet_id: str, reason: str = "deleted") -> bytes:
    return orjson.dumps({"id": tweet_id, "action": "delete", "reason": reason,
                         "created_at": "2023-11-14T22:13:21.000Z",
                         "redacted_at": "2023-11-15T08:00:00.000Z"})  # fmt: skip


def test_a_compliance_file_deletes_its_tweets_everywhere_and_stores_nothing_else(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    graph_and_stream(pipeline)
    assert shown(pipeline, "timeline:1") == ["tweet:105", "tweet:103", "tweet:102", "tweet:101"]
    stray = orjson.dumps(v1_tweet(900, "a tweet in a compliance file", 5))
    job = tmp_path / "job.jsonl"
    job.write_bytes(b"\n".join([job_line("105"), job_line("103", "suspended"), b'{"id": "1',
                                stray, b""]))  # fmt: skip
    result = tweetfeed("deletes", "--from-file", str(job), env=pipeline.env)
    assert result.returncode == 0, result.stderr.decode()
    pipeline.wait_settled()

    assert shown(pipeline, "timeline:1") == ["tweet:102", "tweet:101"]
    assert shown(pipeline, "user:2") == ["tweet:101"]
    assert shown(pipeline, "term:9") == []
    tweets = load_tweet_model()
    with pipeline.db.sessions() as session:
        stored = set(session.scalars(select(tweets.id)))
        dead = session.execute(select(DeadLetter.source, DeadLetter.reason).order_by(DeadLetter.id))
        reasons = [tuple(r) for r in dead]
    assert stored == {101, 102, 104, 106}, "900 was not stored"
    source = f"compliance:{job}"
    assert reasons[0][0] == source and reasons[0][1].startswith("invalid JSON")
    assert reasons[1:] == [(source, "not a delete: a compliance batch applies deletes only")]

    listen(pipeline, stream())  # the same capture again: deletes win
    assert shown(pipeline, "timeline:1") == ["tweet:102", "tweet:101"]
