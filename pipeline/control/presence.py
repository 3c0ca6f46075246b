"""Which Celery workers are online, as the status page shows them.

Each worker refreshes a short-lived Redis key with every event heartbeat (``workers.celery_app``);
a worker that stops or dies drops off within ``TTL`` seconds, with no Celery import needed here.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from pipeline.control import redis_keys

TTL = 10


def beat(redis: Any, hostname: str, queues: list[str]) -> None:
    """Record that ``hostname`` is alive and which queues it consumes."""
    value = orjson.dumps({"hostname": hostname, "queues": queues, "seen_at": time.time()})
    redis.set(redis_keys.worker(hostname), value, ex=TTL)


def online(redis: Any) -> list[dict[str, Any]]:
    """The workers seen in the last ``TTL`` seconds, by hostname."""
    keys = sorted(redis.scan_iter(redis_keys.worker("*"), count=100))
    values = redis.mget(keys) if keys else []
    return [orjson.loads(v) for v in values if v is not None]
