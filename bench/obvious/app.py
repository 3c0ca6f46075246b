"""The obvious Celery design for stream ingest, kept as the benchmark's reference.

A producer reads the stream and sends tasks of 500 raw lines; a task parses each line with
orjson and inserts the tweets as jsonb with ``ON CONFLICT (id) DO NOTHING``, then counts its
lines in Redis. No raw bytes kept apart, no users, hashtags or mentions, no feeds, no dead
letters: what a first version written in an afternoon does.

Run: ``OBVIOUS_DATABASE_URL=… OBVIOUS_REDIS_URL=… celery -A bench.obvious.app worker -c 2``;
``python -m bench.obvious.app FILE`` is the producer.
"""

from __future__ import annotations

import os
import sys

import orjson
import psycopg
import redis
from celery import Celery
from psycopg.types.json import Jsonb

BATCH = 500
COUNTER = "obvious:lines"
DDL = "CREATE TABLE IF NOT EXISTS obvious_tweets (id bigint PRIMARY KEY, payload jsonb NOT NULL)"
INSERT = "INSERT INTO obvious_tweets (id, payload) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING"

app = Celery("obvious", broker=os.environ.get("OBVIOUS_REDIS_URL", "redis://127.0.0.1:6379/0"))
app.conf.update(task_serializer="json", accept_content=["json"], worker_prefetch_multiplier=4,
                task_default_queue="obvious", broker_connection_retry_on_startup=True)  # fmt: skip
_db: psycopg.Connection | None = None
_counter = redis.Redis.from_url(app.conf.broker_url)  # connects on first use, in the child


def _connection() -> psycopg.Connection:
    global _db
    if _db is None:
        _db = psycopg.connect(os.environ["OBVIOUS_DATABASE_URL"])
    return _db


@app.task(name="obvious.store", autoretry_for=(psycopg.errors.DeadlockDetected,))
def store(lines: list[str]) -> int:
    rows = []
    for line in lines:
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(message, dict) and "id" in message and "text" in message:
            rows.append((message["id"], Jsonb(message)))
    rows.sort(key=lambda row: row[0])  # the same lock order in every task: no deadlocks
    db = _connection()
    with db.transaction(), db.cursor() as cursor:
        cursor.executemany(INSERT, rows)
    _counter.incrby(COUNTER, len(lines))
    return len(rows)


def produce(path: str) -> int:
    """Send the file's lines in tasks of ``BATCH``; return how many lines went."""
    sent, batch = 0, []
    with open(path, "rb") as stream:
        for raw in stream:
            line = raw.strip()
            if line:
                batch.append(line.decode("utf-8", "replace"))
            if len(batch) == BATCH:
                store.delay(batch)
                sent, batch = sent + len(batch), []
    if batch:
        store.delay(batch)
        sent += len(batch)
    return sent


if __name__ == "__main__":
    print(produce(sys.argv[1]))
