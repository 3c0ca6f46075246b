"""Sets kept in Redis beside the feeds and rebuilt from SQL whenever Redis has lost them: the
celebrities (``follows``) and the users with mutes, blocks or muted words (``filters``).

Each holds a sentinel member besides its own, so an empty set and a lost one can be told apart
(a Lua script checks for it too: ``ids.CELEBRITY_SENTINEL``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pipeline.feeds import ids

SENTINEL = ids.CELEBRITY_SENTINEL


def replace(redis: Any, key: str, members: Iterable[str]) -> set[str]:
    """Make the set at ``key`` hold exactly ``members`` (and the sentinel); return them."""
    found = set(members)
    pipe = redis.pipeline(transaction=True)
    pipe.delete(key)
    pipe.sadd(key, SENTINEL, *sorted(found))
    pipe.execute()
    return found


def members(redis: Any, key: str, from_sql: Callable[[], Iterable[str]]) -> set[str]:
    """The set at ``key``; rebuilt from ``from_sql()`` if Redis has lost it."""
    found = {m.decode() for m in redis.smembers(key)}
    if not found:
        return replace(redis, key, from_sql())
    found.discard(SENTINEL)
    return found
