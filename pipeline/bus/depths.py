"""How many tasks wait in each of tweetfeed's queues, on whichever broker holds them."""

from __future__ import annotations

from typing import Any

import redis
from kombu import Connection

from pipeline.bus.routes import QUEUES

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def is_redis(url: str) -> bool:
    return url.startswith(REDIS_SCHEMES)


def broker_of(broker_url: str, redis_url: str = "", client: Any = None) -> Any:
    """What ``queue_depths`` reads: a Redis client when the broker is Redis (``client`` itself
    when the broker is the Redis at ``redis_url``), else the broker's URL."""
    if not is_redis(broker_url):
        return broker_url
    if client is not None and broker_url == redis_url:
        return client
    return redis.Redis.from_url(broker_url)


def queue_depths(broker: Any) -> dict[str, int]:
    """Tasks waiting per queue (not those workers hold). ``broker`` is a Redis client (the
    Redis broker keeps each queue as a list) or another broker's URL, which is asked with a
    passive declare per queue (AMQP's count of messages ready)."""
    if not isinstance(broker, str):
        pipe = broker.pipeline(transaction=False)
        for queue in QUEUES:
            pipe.llen(queue)
        return dict(zip(QUEUES, pipe.execute(), strict=True))
    depths = {}
    with Connection(broker, connect_timeout=5) as conn:
        channel = conn.channel()
        for queue in QUEUES:
            try:
                depths[queue] = int(channel.queue_declare(queue, passive=True).message_count)
            except conn.channel_errors:  # no such queue yet: nothing waits in it
                depths[queue] = 0
                channel = conn.channel()  # the broker closed the channel that asked
    return depths
