"""The runtime's promise: what a transaction queues (task sends, callbacks) runs only once it has
committed, in order, and never after a rollback; the task contract dead-letters what it refuses.
On every database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from models import DeadLetter
from pipeline.bus import contract, routes
from pipeline.runtime import Runtime
from pipeline.settings import Settings
from pipeline.store import deadletters
from tests.conftest import Database


class Recorder:
    """A task sender that keeps what it was given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], str | None]] = []

    def send(self, name: str, kwargs: dict[str, Any], queue: str | None = None) -> str:
        self.sent.append((name, kwargs, queue))
        return str(len(self.sent))


def runtime(db: Database, redis_client: Any) -> tuple[Runtime, Recorder]:
    recorder = Recorder()
    return Runtime(db.sessions, redis_client, Settings.from_env({}), sender=recorder), recorder


def dead_letters(db: Database) -> int:
    with db.sessions() as session:
        return session.scalar(select(func.count()).select_from(DeadLetter)) or 0


def test_sends_and_callbacks_wait_for_the_commit(db: Database, redis_client: Any) -> None:
    rt, recorder = runtime(db, redis_client)
    seen: list[str] = []
    with rt.transaction() as session:
        deadletters.record(session, "test", "kept", b"x")
        rt.send(routes.FOLLOW, {"feed": "timeline:1", "target": "user:2"})
        rt.after_commit(lambda: seen.append(f"rows then: {dead_letters(db)}"))
        assert recorder.sent == [] and seen == [], "nothing runs inside the transaction"
    assert recorder.sent == [(routes.FOLLOW, {"feed": "timeline:1", "target": "user:2"}, None)]
    assert seen == ["rows then: 1"], "a callback sees the committed rows"


def test_a_rollback_runs_nothing_it_queued(db: Database, redis_client: Any) -> None:
    rt, recorder = runtime(db, redis_client)
    seen: list[int] = []
    with pytest.raises(RuntimeError, match="boom"), rt.transaction() as session:
        deadletters.record(session, "test", "rolled back", b"x")
        rt.send(routes.FOLLOW, {"feed": "timeline:1", "target": "user:2"})
        rt.after_commit(lambda: seen.append(1))
        raise RuntimeError("boom")
    assert recorder.sent == [] and seen == [] and dead_letters(db) == 0
    with rt.transaction():
        rt.after_commit(lambda: seen.append(2))
    assert seen == [2], "the next transaction starts with nothing pending"


def test_each_transaction_runs_its_own_queue_in_order(db: Database, redis_client: Any) -> None:
    rt, _ = runtime(db, redis_client)
    seen: list[str] = []
    rt.after_commit(lambda: seen.append("outside: at once"))
    with rt.transaction():
        rt.after_commit(lambda: seen.append("outer 1"))
        with rt.transaction():
            rt.after_commit(lambda: seen.append("inner"))
        assert seen == ["outside: at once", "inner"]
        rt.after_commit(lambda: seen.append("outer 2"))
    assert seen == ["outside: at once", "inner", "outer 1", "outer 2"]


def test_the_contract_dead_letters_what_it_refuses(db: Database, redis_client: Any) -> None:
    rt, _ = runtime(db, redis_client)
    good = contract.accept(rt.transaction, routes.FOLLOW, (), {"feed": "timeline:1",
                                                               "target": "user:2"})  # fmt: skip
    assert good.pairs == (("timeline:1", "user:2"),)
    refused: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
        (routes.FOLLOW, ("timeline:1",), {}),
        ("tweetfeed.nope", (), {}),
        (routes.POLL_FILTER_TERMS, (), {"extra": 1}),
        (routes.UNFOLLOW, (), {"feed": "timeline:1"}),
    ]
    for task, args, payload in refused:
        assert contract.accept(rt.transaction, task, args, payload) is contract.REJECTED
    with db.sessions() as session:
        reasons = sorted(session.scalars(select(DeadLetter.reason)))
    assert reasons == sorted([
        "bad payload: the payload goes in keyword arguments, not positional ones",
        "bad payload: 'tweetfeed.nope' is not a tweetfeed task",
        "bad payload: takes no payload, got fields: extra",
        "bad payload: missing fields: target",
    ])  # fmt: skip
