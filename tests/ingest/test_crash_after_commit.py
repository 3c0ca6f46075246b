"""A worker that dies right after a commit, before the Redis work queued behind it: the task
runs again and must leave every feed as if nothing had happened.

The fault suite found this with SIGKILL (feeds that still held deleted tweets); here the death
is placed exactly, after the Nth commit, as a SIGKILL between the commit and the Redis pass
would place it.
"""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.feeds import follows, ids
from pipeline.ingest import parked
from pipeline.ingest.request import IngestRequest
from pipeline.ingest.service import ingest
from pipeline.runtime import Runtime
from pipeline.settings import Settings
from tests.conftest import Database
from tests.factories import line, v1_delete, v1_entities, v1_tweet
from tests.helpers import Died, DiesAfterCommit


def members(redis: Any, feed: str) -> set[int]:
    return {int(m) for m in redis.zrange(ids.redis_key(feed), 0, -1)}


@pytest.mark.parametrize("die_at", [1, 2])
def test_a_delete_whose_worker_died_after_a_commit_leaves_every_feed_when_it_runs_again(
    db: Database, redis_client: Any, die_at: int
) -> None:
    rt = Runtime(db.sessions, redis_client, Settings())
    with db.sessions.begin() as session:
        follows.add(session, [("timeline:1", "user:9")])
    tweet = v1_tweet(900, user_id=9, entities=v1_entities(tags=("crash",)))
    ingest(rt, IngestRequest.parse({"lines": [line(tweet).decode()], "source": "t"}))
    feeds = ["user:9", "timeline:1", "hashtag:crash"]
    assert all(members(redis_client, f) for f in feeds)

    batch = parked.park(redis_client, [v1_delete(900, user_id=9)])
    request = IngestRequest.parse({"batch": batch, "source": "t"})
    dying = DiesAfterCommit(db.sessions, redis_client, Settings(), die_at=die_at)
    with pytest.raises(Died):
        ingest(dying, request, attempt="first")
    # The task is delivered again (the batch is still parked) and runs to the end.
    ingest(rt, request, attempt="second")
    assert {f: members(redis_client, f) for f in feeds} == {f: set() for f in feeds}
