"""Listener counters for the status page, kept in Redis: rates per minute and per term."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from typing import Any

from pipeline.control import redis_keys

RATE_TTL = 2 * 3600
_TAG = re.compile(rb'"tag"\s*:\s*"([^"]*)"')


def rule_tags(line: bytes) -> list[str]:
    """The tags of a v2 line's ``matching_rules``, found without parsing the whole message."""
    start = line.rfind(b'"matching_rules"')
    if start < 0:
        return []
    return [tag.decode() for tag in _TAG.findall(line, start)]


class StreamCounters:
    """Counts in memory on the stream thread; the heartbeat flushes them in one round trip."""

    def __init__(self, keys_name: str) -> None:
        self.keys_name = keys_name
        self._lock = threading.Lock()
        self._minute: Counter[str] = Counter()
        self.tweets_received = 0
        self.keep_alives = 0
        self.reconnects = 0
        self.last_error: str | None = None

    def tweet(self, line: bytes) -> None:
        with self._lock:
            self.tweets_received += 1
            self._minute["all"] += 1
            for tag in rule_tags(line):
                self._minute[redis_keys.term_field(tag)] += 1

    def flush(self, redis: Any, state: str) -> None:
        with self._lock:
            counts, self._minute = self._minute, Counter()
        pipe = redis.pipeline(transaction=False)
        if counts:
            key = redis_keys.rate(int(time.time() // 60))
            for field, value in counts.items():
                pipe.hincrby(key, field, value)
            pipe.expire(key, RATE_TTL)
        mapping = {
            "state": state,
            "tweets_received": self.tweets_received,
            "keep_alives": self.keep_alives,
            "reconnects": self.reconnects,
            "last_error": self.last_error or "",
            "updated_at": time.time(),
        }
        pipe.hset(redis_keys.listener(self.keys_name), mapping=mapping)
        pipe.execute()


def rates(redis: Any, minutes: int = 60) -> list[dict[str, int]]:
    """Counts per minute for the last ``minutes`` whole minutes, oldest first."""
    now = int(time.time() // 60)
    pipe = redis.pipeline(transaction=False)
    for minute in range(now - minutes, now):
        pipe.hgetall(redis_keys.rate(minute))
    return [{k.decode(): int(v) for k, v in row.items()} for row in pipe.execute()]
