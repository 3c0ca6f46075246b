"""Celery's settings, built from tweetfeed's one settings object (``TWEETFEED_*``)."""

from __future__ import annotations

from pipeline.bus.depths import is_redis
from pipeline.bus.routes import POLL_FILTER_TERMS, QUEUES, ROUTES
from pipeline.bus.sender import queue
from pipeline.settings import get_settings
from pipeline.store.redis_client import refuse_as_broker

_settings = get_settings()

broker_url = _settings.celery_broker_url
broker_connection_retry_on_startup = True
# On Redis, a worker takes a task and records it as unacknowledged in one step (workers/broker.py).
if is_redis(broker_url):
    refuse_as_broker(broker_url)
    broker_transport = "workers.broker:Transport"
# A task whose worker died is redelivered after this long (acks_late on Redis). It must
# exceed the longest task: a task still running then is delivered a second time (harmless,
# every write is idempotent, but wasted). Retries wait at most half of it (workers/base.py).
# Workers look for such tasks every tenth of it (at most every 10 s; kombu's own default
# looks every 100 s), so one is delivered again within about 1.1 times the timeout.
# A worker takes from the queues it is given in the order given (-Q fanout,fanout_low: a
# low-priority task only when no fan-out waits), where kombu's default takes them in turn.
broker_transport_options = {
    "queue_order_strategy": "priority",
    "visibility_timeout": _settings.visibility_timeout,
    "unacked_restore_interval": max(1, min(10, _settings.visibility_timeout // 10)),
    "unacked_restore_throttle": 1,
}

task_serializer = "json"
result_serializer = "json"
event_serializer = "json"
accept_content = ["json"]
task_ignore_result = True

# At-least-once: a task is acknowledged only after it ran, and requeued if its worker is lost.
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1

# Messages Celery would only log and drop (undecodable, refused content type, unknown task)
# go to the dead-letter table too.
worker_consumer = "workers.consumer:DeadLetteringConsumer"

task_queues = [queue(q) for q in QUEUES]
task_default_queue = "ingest"
task_routes = {name: {"queue": queue} for name, queue in ROUTES.items()}

# Flower shows tasks as they are sent, start and finish.
worker_send_task_events = True
task_send_sent_event = True

timezone = "UTC"
enable_utc = True
beat_schedule: dict[str, dict[str, object]] = {
    "poll-filter-terms": {
        "task": POLL_FILTER_TERMS,
        "schedule": _settings.poll_interval,
        # A poll that waited longer than one interval is stale; the next one supersedes it.
        "options": {"expires": _settings.poll_interval},
    },
}
beat_schedule_filename = str(_settings.var_path / "celerybeat-schedule")
