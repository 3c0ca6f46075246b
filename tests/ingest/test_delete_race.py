"""A tweet and its delete notice stored at the same moment by two batches: the delete wins,
down to the tweet's activity and its feed entries, whichever commits first."""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import func, select

from models import Activity, Tweet
from pipeline.feeds import ids
from pipeline.ingest.request import IngestRequest
from pipeline.ingest.service import ingest
from pipeline.runtime import Runtime
from pipeline.settings import Settings
from tests.conftest import Database
from tests.factories import line, v1_delete, v1_tweet
from tests.helpers import installed

HOLD_SECONDS = 1.5
# Holds every statement that inserts activities, inside its transaction, before it commits.
TRIGGERS = {
    "postgresql": [
        "CREATE FUNCTION hold_activities() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN PERFORM pg_sleep({HOLD_SECONDS}); RETURN NULL; END $$",
        "CREATE TRIGGER hold AFTER INSERT ON activities "
        "FOR EACH STATEMENT EXECUTE FUNCTION hold_activities()",
    ],
    "mariadb": [
        "CREATE TRIGGER hold AFTER INSERT ON activities "
        f"FOR EACH ROW SET @held = SLEEP({HOLD_SECONDS})",
    ],
}
UNDO = {
    "postgresql": ["DROP TRIGGER hold ON activities", "DROP FUNCTION hold_activities()"],
    "mariadb": ["DROP TRIGGER hold"],
}


def activities_held(db: Database) -> AbstractContextManager[None]:
    return installed(db.engine, db.dialect, TRIGGERS, UNDO)


def store(rt: Runtime, *lines: bytes) -> None:
    ingest(rt, IngestRequest.parse({"lines": [x.decode() for x in lines], "source": "race"}))


def count(db: Database, model: type) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_delete_stored_while_its_tweets_activity_is_uncommitted_still_removes_it(
    db: Database, redis_client: Any
) -> None:
    if db.dialect == "sqlite":
        pytest.skip("SQLite has one writer at a time, so these transactions cannot overlap")
    rt = Runtime(db.sessions, redis_client, replace(Settings(), read_cache_seconds=60))
    with activities_held(db):
        tweet_side = threading.Thread(target=store, args=(rt, line(v1_tweet(700, user_id=7))))
        tweet_side.start()
        # The tweet's batch has committed the tweet and checked for delete notices; its
        # activity is inserted and held uncommitted while the delete's batch runs start to end.
        deadline = time.monotonic() + 10
        while count(db, Tweet) == 0:
            assert time.monotonic() < deadline, "the tweet's batch never stored its tweet"
            time.sleep(0.01)
        time.sleep(HOLD_SECONDS / 3)
        store(rt, v1_delete(700))
        assert tweet_side.is_alive(), "the delete must run while the activity is uncommitted"
        tweet_side.join(timeout=30)
    assert count(db, Tweet) == 0
    assert count(db, Activity) == 0, "the deleted tweet's activity outlived it"
    assert redis_client.zcard(ids.PREFIX + "user:7") == 0
