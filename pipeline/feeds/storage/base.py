"""Feed storage behind one small interface: what every backend (Redis, SQL) does.

A feed is an ordered set of activity ids, newest first: by score (the activity's time in
milliseconds), then by activity id. Both backends (``storage.redis``, ``storage.sql``) keep that
order, trim each feed to its type's max length, and page by offset or by cursor; one contract
test suite runs against both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

MaxLength = Callable[[str], int]


@dataclass(frozen=True, slots=True, order=True)
class Item:
    """One activity in one feed. Items order by (score, activity_id); feeds show them reversed."""

    score: int
    activity_id: int


@dataclass(frozen=True, slots=True)
class Source:
    """Where a feed's items come from: a feed's own rows, whole or from a window of them.

    A followed target contributes the items newer than ``after`` (the first item the follow's
    backfill left out) and every activity with an id above ``watermark`` (stored after the
    follow); ``after`` None means all of its items.
    """

    feed: str
    after: Item | None = None
    watermark: int = 0

    def holds(self, item: Item) -> bool:
        return self.after is None or item > self.after or item.activity_id > self.watermark


class FeedStore(Protocol):
    """What every feed backend does. Writes trim each feed to ``max_length(feed)``."""

    def add(self, entries: Sequence[tuple[str, Item]]) -> None:
        """Put each item into its feed (again is a no-op)."""

    def remove(self, entries: Sequence[tuple[str, int]]) -> None:
        """Take each activity id out of its feed, if there."""

    def page(
        self,
        feed: str,
        limit: int,
        *,
        offset: int = 0,
        before: Item | None = None,
        after: Item | None = None,
    ) -> list[Item]:
        """Up to ``limit`` items, newest first, after skipping ``offset``.

        With ``before``, only items older than it; with ``after``, only newer ones, the
        ``limit`` nearest to it (so paging forward leaves no gap), still newest first.
        """

    def count(self, feed: str) -> int: ...

    def score(self, feed: str, activity_id: int) -> int | None: ...

    def oldest(self, feed: str) -> Item | None: ...

    def exists(self, feed: str) -> bool:
        """False when the store has never held ``feed`` or has lost it."""

    def replace(self, feed: str, items: Iterable[Item]) -> None:
        """Make ``feed`` hold exactly ``items`` (trimmed)."""


def by_feed(entries: Iterable[tuple[str, Any]]) -> dict[str, list[Any]]:
    grouped: dict[str, list[Any]] = defaultdict(list)
    for feed, value in entries:
        grouped[feed].append(value)
    return grouped
