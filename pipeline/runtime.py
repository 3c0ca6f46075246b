"""What a feed operation needs from its runner: transactions, Redis, settings, a task sender.

Workers build one from their base task; tests and other runners build their own. Nothing here
imports celery.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from pipeline.feeds import ids
from pipeline.feeds.storage.redis import Item, RedisFeedStore
from pipeline.feeds.storage.sql import SqlFeedStore
from pipeline.settings import Settings

Transaction = Callable[[], AbstractContextManager[Session]]
# send(task name, kwargs, queue or None for the task's route)
Sender = Callable[[str, dict[str, Any], str | None], None]


@dataclass(frozen=True)
class Services:
    transaction: Transaction
    redis: Any
    settings: Settings
    send: Sender

    def max_length(self, feed: str) -> int:
        return ids.max_length(feed, self.settings)

    def sql(self, session: Session) -> SqlFeedStore:
        """The durable copy, inside ``session``'s transaction."""
        return SqlFeedStore(session, self.max_length)

    def cache(self) -> RedisFeedStore | None:
        """The Redis feeds, or None when feeds are read from SQL (FEED_BACKEND=sql)."""
        if self.settings.feed_backend != "redis":
            return None
        return RedisFeedStore(self.redis, self.max_length)

    def cache_add(self, entries: list[tuple[str, Item]]) -> None:
        cache = self.cache()
        if cache is not None:
            cache.add(entries)

    def cache_remove(self, entries: list[tuple[str, int]]) -> None:
        cache = self.cache()
        if cache is not None:
            cache.remove(entries)
