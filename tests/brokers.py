"""The two brokers the tests run the pipeline on: Redis and RabbitMQ.

Each RabbitMQ test gets a vhost of its own whose default queue type is quorum, as README's
"Running on several machines" tells users to make one, removed again after the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pipeline.bus import depths as bus_depths
from pipeline.bus.routes import QUEUES

RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")


@dataclass
class Broker:
    """A broker and how to count what waits in it."""

    url: str
    vhost: str | None = None  # RabbitMQ

    @cached_property
    def _handle(self) -> Any:
        """What ``queue_depths`` reads: a Redis client, or RabbitMQ's URL."""
        return bus_depths.broker_of(self.url)

    def depths(self) -> dict[str, int]:
        """Messages waiting per queue, not counting the ones workers have taken."""
        return bus_depths.queue_depths(self._handle)

    def pending(self) -> int:
        """Messages waiting or taken but not yet acknowledged, in every tweetfeed queue.
        RabbitMQ counts the taken ones in statistics it refreshes every 5 seconds: see
        ``settle_seconds``."""
        waiting = sum(self.depths().values())
        if self.vhost is None:
            return waiting + int(self._handle.hlen("unacked"))
        rows = _rabbitmqctl("list_queues", "-p", self.vhost, "name", "messages_unacknowledged")
        return waiting + sum(_counts(rows).values())

    @property
    def settle_seconds(self) -> float:
        """How long ``pending`` must stay 0 before nothing is pending: a moment on Redis (it
        takes a task and records it unacknowledged in one step), longer than RabbitMQ's
        statistics interval there."""
        return 0.3 if self.vhost is None else 6.0


def _counts(rows: str) -> dict[str, int]:
    found = dict(line.split("\t") for line in rows.splitlines() if "\t" in line)
    return {q: int(found.get(q, 0)) for q in QUEUES}


def _rabbitmqctl(*args: str) -> str:
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    done = subprocess.run([ctl, *args], capture_output=True, timeout=60, check=True)
    return done.stdout.decode()


@contextmanager
def rabbitmq() -> Iterator[Broker]:
    """A vhost of the test's own on the RabbitMQ server, its queues quorum by default."""
    from tests.conftest import unavailable

    name = f"tweetfeed-test-{uuid.uuid4().hex[:8]}"
    try:
        _rabbitmqctl("add_vhost", name, "--default-queue-type", "quorum")
        _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    except (OSError, subprocess.SubprocessError) as exc:
        unavailable("RabbitMQ (rabbitmqctl)", exc)
    try:
        yield Broker(f"{RABBITMQ_URL}/{name}", name)
    finally:
        _rabbitmqctl("delete_vhost", name)


@contextmanager
def broker_of(kind: str, redis_url: str) -> Iterator[Broker]:
    """``kind`` "redis": the Redis at ``redis_url`` is the broker too; "rabbitmq": a vhost."""
    if kind == "redis":
        yield Broker(redis_url)
    else:
        with rabbitmq() as made:
            yield made


def env_for(broker: Broker, env: dict[str, str]) -> dict[str, Any]:
    """``env`` with ``broker`` as the Celery broker."""
    return {**env, "TWEETFEED_BROKER_URL": broker.url}
