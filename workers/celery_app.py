"""The Celery application, configured from ``celeryconfig``."""

from __future__ import annotations

import contextlib
from typing import Any

import redis
from celery import Celery
from celery.signals import heartbeat_sent, worker_ready

from pipeline.control import presence
from pipeline.settings import get_settings

app = Celery("tweetfeed", include=["workers.tasks"])
app.config_from_object("celeryconfig")
_client: Any = None


def _announce(hostname: str, queues: list[str]) -> None:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(get_settings().redis_url)
    # A missed beat only hides the worker until its next heartbeat, two seconds on.
    with contextlib.suppress(redis.exceptions.RedisError):
        presence.beat(_client, hostname, queues)


@worker_ready.connect
def _ready(sender: Any, **_: Any) -> None:
    _announce(sender.hostname, sorted(q.name for q in sender.task_consumer.queues))


@heartbeat_sent.connect
def _heartbeat(sender: Any, **_: Any) -> None:
    # The sender is the worker's Heart; its event dispatcher knows the node name.
    queues = [q.name for q in app.amqp.queues.consume_from.values()]
    _announce(sender.eventer.hostname, sorted(queues))
