"""A batch whose tweets committed but whose activities did not (its second transaction failed,
as it does when Redis goes away in between), sent again as a new task: the listener does that
when Redis lost the batch. The tweets are stored and not new; their activities must still be
made and fanned out."""

from __future__ import annotations

from contextlib import AbstractContextManager
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
from tests.factories import line, v1_tweet
from tests.helpers import installed

REFUSE = {
    "postgresql": [
        "CREATE FUNCTION refuse_activities() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'activities refused by the test'; END $$",
        "CREATE TRIGGER refuse BEFORE INSERT ON activities "
        "FOR EACH STATEMENT EXECUTE FUNCTION refuse_activities()",
    ],
    "mariadb": [
        "CREATE TRIGGER refuse BEFORE INSERT ON activities FOR EACH ROW "
        "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'activities refused by the test'",
    ],
}
UNDO = {
    "postgresql": ["DROP TRIGGER refuse ON activities", "DROP FUNCTION refuse_activities()"],
    "mariadb": ["DROP TRIGGER refuse"],
}


def activities_refused(db: Database) -> AbstractContextManager[None]:
    return installed(db.engine, db.dialect, REFUSE, UNDO)


def count(db: Database, model: type) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_tweets_stored_without_their_activities_get_them_when_the_lines_come_again(
    db: Database, redis_client: Any
) -> None:
    if db.dialect == "sqlite":
        pytest.skip("SQLite has no triggers that raise in this form")
    rt = Runtime(db.sessions, redis_client, Settings())
    lines = [line(v1_tweet(800 + n, user_id=9)).decode() for n in range(5)]
    with activities_refused(db), pytest.raises(Exception, match="refused by the test"):
        ingest(rt, IngestRequest.parse({"lines": lines, "source": "first"}), attempt="a1")
    assert (count(db, Tweet), count(db, Activity)) == (5, 0)
    # The listener hands the same lines on again: a new task, a first attempt.
    ingest(rt, IngestRequest.parse({"lines": lines, "source": "again"}), attempt="a2")
    assert count(db, Activity) == 5
    assert redis_client.zcard(ids.PREFIX + "user:9") == 5
