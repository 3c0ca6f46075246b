"""A fan-out chunk that arrives after its activity was removed writes nothing: Redis remembers
removals for a while and the write script refuses them, so a chunk needs no SQL; when that
record cannot vouch for the chunk (too old, or Redis lost it), SQL is asked instead."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from pipeline.feeds import fanout, ids, manager
from pipeline.feeds.storage.redis_scripts import REMOVED
from pipeline.feeds.task_payloads import ChunkRequest, RemoveRequest, activity_row
from pipeline.runtime import Runtime
from pipeline.settings import Settings
from tests.conftest import Database, feed_key
from tests.helpers import statements

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)

FOLLOWERS = [f"timeline:{n}" for n in range(5)]


def runtime(db: Database, redis: Any) -> Runtime:
    return Runtime(db.sessions, redis, replace(Settings(), removal_memory_seconds=600))


def stored(rt: Runtime, foreign_id: str) -> ChunkRequest:
    """An activity by user:1 (nobody follows it yet) and the chunk a fan-out would send."""
    row = activity_row({"actor": "user:1", "verb": "tweet", "object": foreign_id,
                        "foreign_id": foreign_id})  # fmt: skip
    activity_id = manager.add_activity(rt, row)
    with rt.transaction() as session:
        (activity,) = fanout.activities.load(session, [activity_id]).values()
    planned = int(time.time() * 1000)
    return ChunkRequest(activity_id, FOLLOWERS, score=activity.score, planned=planned)


def removed(rt: Runtime, foreign_id: str) -> ChunkRequest:
    """The chunk of an activity removed before the chunk runs."""
    chunk = stored(rt, foreign_id)
    manager.remove_activity(rt, RemoveRequest(foreign_id=foreign_id, activity_id=None))
    return chunk


def written(db: Database, rt: Runtime, chunk: ChunkRequest) -> list[str]:
    """Run ``chunk``; the SQL statements it took."""
    with statements(db.engine) as seen:
        fanout.write_chunk(rt, chunk)
    return seen


def holding(rt: Runtime, activity_id: int) -> list[str]:
    member = ids.member(activity_id)
    return [f for f in FOLLOWERS if rt.redis.zscore(feed_key(rt.redis, f), member) is not None]


def test_a_chunk_of_a_live_activity_is_written_without_a_word_to_sql(
    db: Database, feeds_redis: Any
) -> None:
    rt = runtime(db, feeds_redis)
    chunk = stored(rt, "tweet:1")
    assert written(db, rt, chunk) == []
    assert holding(rt, chunk.activity_id) == FOLLOWERS


def test_a_chunk_that_arrives_after_its_activity_was_removed_writes_nothing(
    db: Database, feeds_redis: Any
) -> None:
    rt = runtime(db, feeds_redis)
    chunk = removed(rt, "tweet:2")
    assert written(db, rt, chunk) == [], "the record of removals answered; SQL was not needed"
    assert holding(rt, chunk.activity_id) == []


@pytest.mark.parametrize("why", ["planned too long ago", "Redis lost its data"])
def test_when_the_record_cannot_vouch_for_a_chunk_sql_takes_back_a_removed_activity(
    db: Database, feeds_redis: Any, why: str
) -> None:
    rt = runtime(db, feeds_redis)
    chunk = removed(rt, "tweet:3")
    if why == "Redis lost its data":
        feeds_redis.flushall()
    else:
        old = chunk.planned is not None and chunk.planned - 301_000  # over half the memory
        chunk = replace(chunk, planned=int(old))
        # The removal itself is forgotten too, as it would be once the memory has passed.
        feeds_redis.delete(REMOVED)
    assert written(db, rt, chunk), "SQL was asked"
    assert holding(rt, chunk.activity_id) == []


def test_a_removal_is_remembered_only_for_the_configured_time(
    db: Database, feeds_redis: Any
) -> None:
    rt = runtime(db, feeds_redis)
    first = removed(rt, "tweet:4")
    assert feeds_redis.zscore(REMOVED, ids.member(first.activity_id)) is not None
    # Backdate it past the memory: the next removal trims it away.
    feeds_redis.zadd(REMOVED, {ids.member(first.activity_id): 1})
    removed(rt, "tweet:5")
    assert feeds_redis.zscore(REMOVED, ids.member(first.activity_id)) is None
    assert feeds_redis.zcard(REMOVED) == 1
