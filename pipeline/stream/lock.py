"""One stream connection per API key: a Redis lock whose TTL the heartbeat renews."""

from __future__ import annotations

import os
import socket
import uuid
from typing import Any

_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


class StreamLock:
    """Held by the listener that streams with a key; a standby waits for its TTL to lapse."""

    def __init__(self, redis: Any, keys_name: str, ttl: float) -> None:
        self.redis = redis
        self.key = f"tweetfeed:lock:stream:{keys_name}"
        self.ttl_ms = int(ttl * 1000)
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def acquire(self) -> bool:
        return bool(self.redis.set(self.key, self.token, nx=True, px=self.ttl_ms))

    def renew(self) -> bool:
        """Extend the TTL; False means another process holds the lock now."""
        return bool(self.redis.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))

    def release(self) -> None:
        self.redis.eval(_RELEASE, 1, self.key, self.token)

    def holder(self) -> str | None:
        value = self.redis.get(self.key)
        return value.decode() if value else None
