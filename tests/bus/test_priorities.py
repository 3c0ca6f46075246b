"""Priorities that act: a worker given ``-Q fanout,fanout_low`` takes every waiting ``fanout``
task before any ``fanout_low`` one, on Redis (kombu's ``priority`` queue order; its default
takes the queues in turn, so a flood of low-priority work would hold up every other fan-out
task) and on RabbitMQ (workers/queue_order.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from models import Activity
from pipeline.bus.client import Client
from tests.brokers import Broker, broker_of, env_for
from tests.conftest import Database
from tests.helpers import wait_until, worker
from tests.scenario import OWN_REDIS_URL, own_env

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)

LOW, HIGH = 120, 20


@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_fanout_work_is_taken_before_a_flood_of_low_priority_fan_out(
    db: Database, tmp_path: Path, kind: str
) -> None:
    with broker_of(kind, OWN_REDIS_URL) as broker:
        check_order(db, tmp_path, broker)


def check_order(db: Database, tmp_path: Path, broker: Broker) -> None:
    _, env = own_env(db, tmp_path)
    env = env_for(broker, env)
    # Everything is queued before the worker starts: the low flood first, then the high work.
    with Client(broker.url) as client:
        for n in range(LOW):
            client.broadcast({"actor": "user:2", "verb": "message", "object": f"message:{n}",
                              "foreign_id": f"low:{n}"}, [f"notification:{n}"])  # fmt: skip
        for n in range(HIGH):
            client.add_activity(actor="user:1", verb="like", object=f"tweet:{n}",
                                foreign_id=f"high:{n}")  # fmt: skip
    depths = broker.depths()
    assert (depths["fanout_low"], depths["fanout"]) == (LOW, HIGH)

    def done() -> bool:
        return len(rows()) == LOW + HIGH and not broker.pending()

    def rows() -> list[tuple[int, str]]:
        with db.sessions() as session:
            return list(session.execute(select(Activity.id, Activity.foreign_id)).tuples())

    with worker(env, tmp_path / "priorities.log", "fanout,fanout_low", concurrency=1):
        wait_until(done, 120, "every task to run")
    # One worker process took the tasks one by one, so activity ids follow the order it ran them.
    order = [foreign_id.partition(":")[0] for _, foreign_id in sorted(rows())]
    last_high = max(i for i, kind in enumerate(order) if kind == "high")
    ran_before = order[:last_high].count("low")
    assert ran_before == 0, f"{ran_before} low-priority tasks ran before the last fan-out task"
