"""Activities from an app's own SQLAlchemy models (``pipeline.bus.activity_mixin``): rows of a
model of the app's, in the test's PostgreSQL database, publish through the broker to a real
worker after their commit, and nothing is published for what is rolled back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import BigInteger, DateTime, String
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from pipeline.bus.activity_mixin import Activity, publish_activities, publish_again
from pipeline.bus.client import Client
from pipeline.feeds.read import FlatFeed, get_feed
from tests.conftest import Pipeline
from tests.scenario import follow_many

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


class AppBase(DeclarativeBase):
    pass


class Pin(AppBase, Activity):
    __tablename__ = "app_pins"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    board_owner_id: Mapped[int] = mapped_column(BigInteger)
    title: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    activity_verb = "pin"

    @property
    def activity_actor(self) -> str:
        return f"user:{self.user_id}"

    @property
    def activity_notify(self) -> list[str]:
        return [f"notification:{self.board_owner_id}"]

    @property
    def extra_activity_data(self) -> dict[str, str]:  # type: ignore[override]
        return {"content": self.title}


@pytest.fixture
def app_sessions(pipeline: Pipeline) -> Iterator[sessionmaker[Session]]:
    AppBase.metadata.create_all(pipeline.db.engine)
    sessions = sessionmaker(pipeline.db.engine)
    with Client(pipeline.broker_url) as client:
        publish_activities(sessions, client)
        yield sessions
    AppBase.metadata.drop_all(pipeline.db.engine)


def shown(p: Pipeline, feed: str) -> list[tuple[str, str, str]]:
    found = get_feed(feed, p.runtime())
    assert isinstance(found, FlatFeed)
    return [(a.foreign_id, a.verb, a.content or "") for a in found[:]]


def pin(pin_id: int, title: str) -> Pin:
    when = datetime(2026, 12, 1, 12, pin_id % 60, tzinfo=UTC)
    return Pin(id=pin_id, user_id=42, board_owner_id=7, title=title, created_at=when)


def test_rows_publish_their_activity_after_commit_and_remove_it_on_delete(
    pipeline: Pipeline, app_sessions: sessionmaker[Session]
) -> None:
    follow_many(pipeline, [("timeline:1", "user:42")])
    with app_sessions.begin() as session:
        session.add_all([pin(1, "first"), pin(2, "second")])
        session.flush()
        assert not pipeline.redis.llen("fanout"), "nothing is sent before the commit"
    pipeline.wait_settled()
    expected = [("app_pins:2", "pin", "second"), ("app_pins:1", "pin", "first")]
    assert shown(pipeline, "user:42") == expected
    assert shown(pipeline, "timeline:1") == expected
    groups = get_feed("notification:7", pipeline.runtime())[:]
    assert [(g.verb, g.object) for g in groups] == [("pin", "app_pins:2"), ("pin", "app_pins:1")]

    with app_sessions() as session, session.begin():
        session.add(pin(3, "rolled back"))
        session.flush()
        session.rollback()
    with app_sessions() as session:
        session.add(pin(4, "never committed"))
        session.flush()
    with app_sessions.begin() as session:
        session.add(pin(5, "kept"))
        savepoint = session.begin_nested()
        session.add(pin(6, "savepoint rolled back"))
        session.flush()
        savepoint.rollback()
    pipeline.wait_settled()
    assert [f for f, _, _ in shown(pipeline, "user:42")] == ["app_pins:5", "app_pins:2",
                                                              "app_pins:1"]  # fmt: skip

    with app_sessions.begin() as session:
        session.delete(session.get_one(Pin, 2))
    pipeline.wait_settled()
    assert [f for f, _, _ in shown(pipeline, "timeline:1")] == ["app_pins:5", "app_pins:1"]

    with app_sessions() as session, Client(pipeline.broker_url) as client:
        publish_again(session.get_one(Pin, 1), client)  # stored once however often it is sent
    pipeline.wait_settled()
    assert [f for f, _, _ in shown(pipeline, "user:42")] == ["app_pins:5", "app_pins:1"]
