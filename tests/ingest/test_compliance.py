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
from tests.web.test_web import client_for

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
    assert {s for s, _ in reasons} == {source} and len(reasons) == 2
    assert sorted(r.split(":")[0] for _, r in reasons) == ["invalid JSON", "not a delete"]

    listen(pipeline, stream())  # the same capture again: deletes win
    assert shown(pipeline, "timeline:1") == ["tweet:102", "tweet:101"]


def test_compliance_lines_posted_over_http_are_applied_the_same_way(pipeline: Pipeline) -> None:
    graph_and_stream(pipeline)
    stray = orjson.dumps(v1_tweet(901, "posted as a delete", 5)).decode()
    body = {"lines": [job_line("105").decode(), stray], "source": "job-7"}
    with client_for(pipeline, api_token="t") as web:
        assert web.post("/api/compliance", json=body).status_code == 401
        queued = web.post("/api/compliance", json=body, headers={"Authorization": "Bearer t"})
        assert queued.status_code == 202 and queued.json()["lines"] == 2
    pipeline.wait_settled()
    assert shown(pipeline, "timeline:1") == ["tweet:103", "tweet:102", "tweet:101"]
    with pipeline.db.sessions() as session:
        dead = session.execute(select(DeadLetter.source, DeadLetter.reason))
        assert [tuple(r) for r in dead] == [
            ("compliance:job-7", "not a delete: a compliance batch applies deletes only")
        ]
        assert (
            session.scalar(select(load_tweet_model().id).where(load_tweet_model().id == 901))
            is None
        )
