"""One stream connection per bearer token: a Redis lock whose TTL the heartbeat renews.

The lock is named after a hash of the token, not the keys' name: two names holding the same
token are one connection as far as X is concerned (the second would loop on 429).
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from typing import Any

from pipeline.control.redis_keys import NAMESPACE

_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)


def lock_key(bearer_token: str) -> str:
    """The lock's Redis key: a hash of the token, which never shows the token itself."""
    digest = hashlib.sha256(b"tweetfeed stream lock\0" + bearer_token.encode()).hexdigest()
    return f"{NAMESPACE}lock:stream:{digest[:32]}"


class StreamLock:
    """Held by the listener that streams with a token; a standby waits for its TTL to lapse."""

    def __init__(self, redis: Any, bearer_token: str, ttl: float) -> None:
        self.redis = redis
        self.key = lock_key(bearer_token)
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
