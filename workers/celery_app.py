"""The Celery application, configured from ``celeryconfig``."""

from __future__ import annotations

import contextlib
from functools import cache
from typing import Any

import redis
from celery import Celery
from celery.signals import heartbeat_sent, task_received, worker_ready, worker_shutdown

from pipeline.bus import depths, reclaim
from pipeline.control import presence
from pipeline.settings import get_settings
from pipeline.store import redis_client
from workers.queue_order import QueueOrder

app = Celery("tweetfeed", include=["workers.tasks"])
app.config_from_object("celeryconfig")
app.steps["consumer"].add(QueueOrder)
_client: Any = None


def _announce(hostname: str, queues: list[str]) -> None:
    global _client
    if _client is None:
        _client = redis_client.connect(get_settings().redis_url)
    # A missed beat only hides the worker until its next heartbeat, two seconds on.
    with contextlib.suppress(redis.exceptions.RedisError):
        presence.beat(_client, hostname, queues)


@cache
def _broker() -> Any:
    """The broker's Redis, or None when the broker is not Redis (see pipeline.bus.reclaim)."""
    url = str(app.conf.broker_url)
    return redis.Redis.from_url(url) if depths.is_redis(url) else None


def _restore(tag: str) -> None:
    with app.connection_for_write() as connection:
        connection.default_channel.qos.restore_by_tag(tag, leftmost=True)


def _look_after(hostname: str) -> None:
    """Say this worker lives, and give back the tasks of workers that do not."""
    client = _broker()
    if client is None:
        return
    with contextlib.suppress(redis.exceptions.RedisError):
        reclaim.alive(client, reclaim.me(hostname))
        reclaim.reclaim(client, _restore)


@task_received.connect
def _received(sender: Any, request: Any, **_: Any) -> None:
    client = _broker()
    if client is not None:
        with contextlib.suppress(redis.exceptions.RedisError):
            reclaim.holding(client, request.message.delivery_tag, reclaim.me(sender.hostname))


@worker_ready.connect
def _ready(sender: Any, **_: Any) -> None:
    _announce(sender.hostname, sorted(q.name for q in sender.task_consumer.queues))
    _look_after(sender.hostname)


@heartbeat_sent.connect
def _heartbeat(sender: Any, **_: Any) -> None:
    # The sender is the worker's Heart; its event dispatcher knows the node name.
    queues = [q.name for q in app.amqp.queues.consume_from.values()]
    _announce(sender.eventer.hostname, sorted(queues))
    _look_after(sender.eventer.hostname)


@worker_shutdown.connect
def _shutdown(sender: Any, **_: Any) -> None:
    client = _broker()
    if client is not None:
        with contextlib.suppress(redis.exceptions.RedisError):
            reclaim.gone(client, reclaim.me(sender.hostname))
