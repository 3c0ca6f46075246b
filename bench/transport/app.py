"""tweetfeed's transport alone, as a floor under the ingest figures: what it costs to carry a
line from ``tweetfeed listen --from-file`` to a worker, with no work done on it there.

The real listener parks each batch in Redis and sends ``tweetfeed.ingest_batch`` with the key,
as it does for the real workers. This worker, on the same queue, in the same Celery
configuration (acks late, task events for Flower), only fetches the parked lines and releases
the batch with its line count, as a real task does once it has committed: no parsing, no SQL,
no feeds. Whatever tweetfeed does to a line costs at least this much more.

Run: ``TWEETFEED_REDIS_URL=… celery -A bench.transport.app worker -Q ingest -c 2``.
"""

from __future__ import annotations

from typing import Any

import redis
from celery import Celery

import celeryconfig
from pipeline.ingest import parked
from pipeline.settings import get_settings

app = Celery("transport")
app.config_from_object(celeryconfig)
_redis = redis.Redis.from_url(get_settings().redis_url)  # connects on first use, in the child


@app.task(name="tweetfeed.ingest_batch")
def ingest_batch(batch: str, **_: Any) -> int:
    lines = parked.fetch(_redis, batch) or []
    parked.release(_redis, batch, {"lines": len(lines)})
    return len(lines)
