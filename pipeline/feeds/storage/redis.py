"""The Redis feed backend: a sorted set per feed, written and paged by Lua scripts."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pipeline.feeds import ids
from pipeline.feeds.storage.base import Item, MaxLength, by_feed
from pipeline.feeds.storage.packed import evalsha_many
from pipeline.feeds.storage.redis_scripts import (
    ADD,
    BUILT,
    EPOCH,
    FILL,
    PAGE,
    REMOVED,
    REMOVED_SINCE,
)

# Entries per EVALSHA: bounds the time Redis spends in one script, so reads are not held up.
SCRIPT_BATCH = 1000
# An item going to this many feeds or more is written by calls of its own, which name it once
# (score and id) for all their keys; items for fewer feeds share calls that name an item per
# key. Ingest with followers, 500 activities into ~265 feeds each: 0.8-1.2 → 0.4-0.6 µs of
# client CPU and 3.7-5.2 → 2.8-4.5 µs of Redis CPU a write, three alternations.
SHARED_ITEM_KEYS = 16


def _items(flat: list[Any]) -> list[Item]:
    return [Item(int(float(flat[i + 1])), int(flat[i])) for i in range(0, len(flat), 2)]


class RedisFeedStore:
    """Feeds as Redis sorted sets: members are zero-padded activity ids, scores milliseconds."""

    key = staticmethod(ids.redis_key)  # a feed's sorted set

    def __init__(self, redis: Any, max_length: MaxLength, removal_memory: float = 3600.0) -> None:
        self.redis = redis
        self.max_length = max_length
        self.removal_memory = removal_memory
        self._add = redis.register_script(ADD)
        self._page = redis.register_script(PAGE)
        self._fill = redis.register_script(FILL)

    def keys(self, feeds: Sequence[str]) -> list[str]:
        """:attr:`key` of each of ``feeds``, as fast as Python makes a list of them."""
        prefix = ids.PREFIX
        return [prefix + feed for feed in feeds]

    def add(self, entries: Sequence[tuple[str, Item]]) -> None:
        self.write(entries, None)

    def write(self, entries: Sequence[tuple[str, Item]], planned: float | None) -> bool:
        """Every entry in one round trip: a pipeline of Lua calls, each ZADD then trim, except
        for activities removed lately, which are left out.

        ``planned`` is when the write was decided (epoch seconds). Returns True when the
        removal record covers every removal since then, so nothing written can belong to an
        activity removed meanwhile; False when that must be checked in SQL (a write planned
        before Redis started keeping the record, or too long ago, or never said).
        """
        length = self._length_of()
        by_item: dict[tuple[int, Item], list[str]] = defaultdict(list)
        for (feed, item), key in zip(entries, self.keys([f for f, _ in entries]), strict=True):
            by_item[length(feed), item].append(key)
        calls: list[tuple[list[str], list[Any]]] = []
        few: dict[int, list[tuple[str, Item]]] = defaultdict(list)
        for (kept, item), keys in by_item.items():
            if len(keys) < SHARED_ITEM_KEYS:
                few[kept] += [(key, item) for key in keys]
                continue
            named = [kept, item.score, item.activity_id]
            for start in range(0, len(keys), SCRIPT_BATCH):
                calls.append((keys[start : start + SCRIPT_BATCH], named))
        for kept, pairs in few.items():
            for start in range(0, len(pairs), SCRIPT_BATCH):
                part = pairs[start : start + SCRIPT_BATCH]
                items = [x for _, item in part for x in (item.score, item.activity_id)]
                calls.append(([key for key, _ in part], [kept, *items]))
        return self._run(calls, planned)

    def write_one(self, feeds: Sequence[str], item: Item, planned: float | None) -> bool:
        """:meth:`write` of one item into every one of ``feeds`` (a fan-out chunk)."""
        by_length: dict[int, list[str]] = defaultdict(list)
        length = self._length_of()
        for feed, key in zip(feeds, self.keys(feeds), strict=True):
            by_length[length(feed)].append(key)
        calls = [
            (keys[start : start + SCRIPT_BATCH], [kept, item.score, item.activity_id])
            for kept, keys in by_length.items()
            for start in range(0, len(keys), SCRIPT_BATCH)
        ]
        return self._run(calls, planned)

    def _length_of(self) -> Callable[[str], int]:
        """``max_length``, asked once per feed type (it depends on the slug alone)."""
        known: dict[str, int] = {}

        def length(feed: str) -> int:
            kind = feed.partition(":")[0]
            found = known.get(kind)
            if found is None:
                found = known[kind] = self.max_length(feed)
            return found

        return length

    def _run(self, calls: list[tuple[list[str], list[Any]]], planned: float | None) -> bool:
        if not calls:
            return True
        head = [-1 if planned is None else int(planned * 1000), int(self.removal_memory * 500)]
        sent = [(keys, [kept, *head, *items]) for keys, (kept, *items) in calls]
        covered = evalsha_many(self.redis, self._add, sent)
        if all(covered):
            return True
        # From now on, removals are recorded: later writes can rely on the record.
        self.redis.set(REMOVED_SINCE, int(time.time() * 1000), nx=True)
        return False

    def remove(self, entries: Sequence[tuple[str, int]], removed: Sequence[int] = ()) -> None:
        """Take ``entries`` out of their feeds. ``removed`` are activities deleted for good:
        they are recorded first, so that a write of one that comes later is refused."""
        if not entries and not removed:
            return
        pipe = self.redis.pipeline(transaction=False)
        self._record_removals(pipe, removed)
        self._take_out_entries(pipe, entries)
        pipe.execute()

    def _record_removals(self, pipe: Any, removed: Sequence[int]) -> None:
        """Queue on ``pipe`` the record of ``removed`` (and the trim of what it has kept past
        the removal memory)."""
        if removed:
            now = int(time.time() * 1000)
            pipe.set(REMOVED_SINCE, now, nx=True)
            pipe.zadd(REMOVED, {ids.member(i): now for i in removed})
            pipe.zremrangebyscore(REMOVED, "-inf", now - int(self.removal_memory * 1000))

    def _take_out_entries(self, pipe: Any, entries: Sequence[tuple[str, int]]) -> None:
        for feed, members in by_feed(entries).items():
            pipe.zrem(self.key(feed), *map(ids.member, members))

    def page(
        self,
        feed: str,
        limit: int,
        *,
        offset: int = 0,
        before: Item | None = None,
        after: Item | None = None,
    ) -> list[Item]:
        if limit <= 0:
            return []
        cursor = before or after
        mode = "before" if before else "after" if after else "newest"
        args: list[Any] = [limit, offset, mode]
        if cursor is not None:
            args += [cursor.score, ids.member(cursor.activity_id)]
        items = _items(self._page(keys=[self.key(feed)], args=args))
        return items[::-1] if mode == "after" else items

    def count(self, feed: str) -> int:
        return int(self.redis.zcard(self.key(feed)))

    def score(self, feed: str, activity_id: int) -> int | None:
        value = self.redis.zscore(self.key(feed), ids.member(activity_id))
        return None if value is None else int(value)

    def oldest(self, feed: str) -> Item | None:
        found = self.redis.zrange(self.key(feed), 0, 0, withscores=True)
        return Item(int(found[0][1]), int(found[0][0])) if found else None

    def exists(self, feed: str) -> bool:
        return bool(self.redis.exists(self.key(feed)))

    def whole(self, feed: str) -> bool:
        """True when ``feed`` was copied from SQL in this Redis's life (see :data:`BUILT`) and
        is there (a feed whose key went, or that has no item, is copied again)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(EPOCH)
        pipe.hget(BUILT, feed)
        pipe.exists(self.key(feed))
        epoch, built, there = pipe.execute()
        return epoch is not None and built == epoch and bool(there)

    def _epoch(self) -> bytes:
        self.redis.set(EPOCH, uuid.uuid4().hex, nx=True)
        return bytes(self.redis.get(EPOCH))

    def fill(self, feed: str, items: Iterable[Item]) -> None:
        """Add ``items``, read from SQL, to what ``feed`` holds, and mark it whole.

        Unlike :meth:`replace` this keeps what the key holds: a fan-out write that committed
        after the SQL read may already be there, and it is in no snapshot taken before it. An
        activity removed since the read is in the removal record and is not added back.
        """
        pairs: list[Any] = []
        for item in items:
            pairs += (item.score, ids.member(item.activity_id))
        keys = [self.key(feed), REMOVED, BUILT]
        self._fill(keys=keys, args=[self.max_length(feed), feed, self._epoch(), *pairs])

    def forget(self, feeds: Sequence[str]) -> None:
        """Drop ``feeds`` and their marks: the next read of each copies it from SQL again."""
        if feeds:
            pipe = self.redis.pipeline(transaction=True)
            pipe.hdel(BUILT, *feeds)
            pipe.delete(*map(self.key, feeds))
            pipe.execute()

    def replace(self, feed: str, items: Iterable[Item]) -> None:
        """Make ``feed`` hold exactly ``items`` and mark it whole, in one MULTI."""
        epoch = self._epoch()
        pipe = self._replacing(feed, items)
        pipe.hset(BUILT, feed, epoch)
        pipe.execute()

    def _replacing(self, feed: str, items: Iterable[Item]) -> Any:
        """A MULTI pipeline that makes ``feed`` hold exactly ``items`` (trimmed), not sent."""
        key = self.key(feed)
        mapping = {ids.member(i.activity_id): i.score for i in items}
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(key)
        if mapping:
            pipe.zadd(key, mapping)
            pipe.zremrangebyrank(key, 0, -(self.max_length(feed) + 1))
        return pipe
