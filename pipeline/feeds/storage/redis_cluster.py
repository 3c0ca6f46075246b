"""The Redis feed backend on a Redis Cluster: the same sorted sets, spread over every master.

Feeds are in ``ids.CLUSTER_BUCKETS`` slots, picked by their names (``ids.cluster_key``); the
removal record and the marks of feeds held whole are under the ``{tweetfeed}`` hash tag, on one
master. A Lua script touches keys of one slot only, so
what :class:`RedisFeedStore` does in one script is split here:

- A write reads the removal record first (one call on its master), drops what it holds, writes
  the rest with one call per slot, sent to every master at once (one round trip a master), then
  reads the record again and takes out what was removed meanwhile. A removal records first and
  takes out after, so one of the two sees the other: nothing removed stays in a feed.
- A fill does the same for one feed, then marks it whole; a forget unmarks, then drops.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from pipeline.feeds import ids
from pipeline.feeds.storage.base import Item, MaxLength
from pipeline.feeds.storage.packed import evalsha_many
from pipeline.feeds.storage.redis import SCRIPT_BATCH, RedisFeedStore
from pipeline.feeds.storage.redis_scripts import ADD_SLOT, BUILT, CHECK, REMOVED, REMOVED_SINCE

Call = tuple[list[str], list[Any]]


class ClusterFeedStore(RedisFeedStore):
    """:class:`RedisFeedStore` on a ``redis.cluster.RedisCluster`` client, feeds named by
    ``ids.cluster_key`` (one of ``ids.CLUSTER_BUCKETS`` slots each)."""

    key = staticmethod(ids.cluster_key)

    def __init__(self, redis: Any, max_length: MaxLength, removal_memory: float = 3600.0) -> None:
        super().__init__(redis, max_length, removal_memory)
        self._check = redis.register_script(CHECK)
        self._add_slot = redis.register_script(ADD_SLOT)

    def keys(self, feeds: Sequence[str]) -> list[str]:
        return [ids.cluster_key(feed) for feed in feeds]

    def _run(self, calls: list[tuple[list[str], list[Any]]], planned: float | None) -> bool:
        if not calls:
            return True
        members = sorted({ids.member(int(a)) for _, (_, *items) in calls for a in items[1::2]})
        covered, gone = self._removed(planned, members)
        per_slot, slots = self._by_slot(calls, gone)
        evalsha_many(self.redis, self._add_slot, per_slot, slots)
        _, late = self._removed(planned, members)
        if late - gone:
            self._take_out(per_slot, late - gone)
        if not covered:
            self.redis.set(REMOVED_SINCE, int(time.time() * 1000), nx=True)
        return covered

    def _removed(self, planned: float | None, members: Sequence[str]) -> tuple[bool, set[str]]:
        """Whether the record covers a write planned then (see :meth:`write`), and which of
        ``members`` it holds."""
        when = -1 if planned is None else int(planned * 1000)
        args = [when, int(self.removal_memory * 500), *members]
        covered, *gone = self._check(keys=[REMOVED_SINCE, REMOVED], args=args)
        return bool(covered), {m.decode() for m in gone}

    def _by_slot(self, calls: list[Call], gone: set[str]) -> tuple[list[Call], list[int]]:
        """``calls`` (keys, [max length, score, id, ...]) as calls of one slot each, members
        padded, without the members in ``gone``; and each call's slot. A slot's keys share
        calls: one naming its item once when every key gets the same one (a fan-out chunk),
        else naming an item per key (an ingest batch, many items in few slots)."""
        slots: dict[tuple[int, int], dict[tuple[Any, str], list[str]]] = defaultdict(
            lambda: defaultdict(list)
        )
        slot_of = ids.cluster_slot
        for keys, (kept, *items) in calls:
            if len(items) == 2:
                member = ids.member(int(items[1]))
                if member not in gone:
                    item = (items[0], member)
                    for key in keys:
                        slots[slot_of(key), kept][item].append(key)
                continue
            for key, score, activity in zip(keys, items[::2], items[1::2], strict=True):
                member = ids.member(int(activity))
                if member not in gone:
                    slots[slot_of(key), kept][score, member].append(key)
        out: list[Call] = []
        where: list[int] = []
        for (slot, kept), by_item in slots.items():
            for call in _calls(kept, by_item):
                out.append(call)
                where.append(slot)
        return out, where

    def _take_out(self, calls: list[Call], members: set[str]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for keys, (_, *items) in calls:
            written = items[1::2]
            for i, key in enumerate(keys):
                member = written[0] if len(written) == 1 else written[i]
                if member in members:
                    pipe.zrem(key, member)
        pipe.execute()

    def remove(self, entries: Sequence[tuple[str, int]], removed: Sequence[int] = ()) -> None:
        """:meth:`RedisFeedStore.remove`, the record written (on its master) before any feed
        is touched."""
        if removed:
            pipe = self.redis.pipeline(transaction=False)
            self._record_removals(pipe, removed)
            pipe.execute()
        if entries:
            pipe = self.redis.pipeline(transaction=False)
            self._take_out_entries(pipe, entries)
            pipe.execute()

    def fill(self, feed: str, items: Iterable[Item]) -> None:
        """:meth:`RedisFeedStore.fill`: the items the record does not hold, then the mark."""
        key, epoch, kept = self.key(feed), self._epoch(), self.max_length(feed)
        pairs = [x for i in items for x in (i.score, i.activity_id)]
        if pairs:
            self._run([([key] * (len(pairs) // 2), [kept, *pairs])], time.time())
        else:
            self.redis.zremrangebyrank(key, 0, -(kept + 1))
        self.redis.hset(BUILT, feed, epoch)

    def forget(self, feeds: Sequence[str]) -> None:
        """Unmark ``feeds``, then drop them: a read between the two copies a feed again."""
        if feeds:
            self.redis.hdel(BUILT, *feeds)
            self.redis.delete(*map(self.key, feeds))

    def replace(self, feed: str, items: Iterable[Item]) -> None:
        """:meth:`RedisFeedStore.replace`, the mark (on its master) after the feed's MULTI."""
        epoch = self._epoch()
        self._replacing(feed, items).execute()  # one key: one slot
        self.redis.hset(BUILT, feed, epoch)


def _calls(kept: int, by_item: dict[tuple[Any, str], list[str]]) -> Iterator[Call]:
    """A slot's writes, SCRIPT_BATCH keys a call: its item named once if it has only one."""
    if len(by_item) == 1:
        (((score, member), keys),) = by_item.items()
        for i in range(0, len(keys), SCRIPT_BATCH):
            yield keys[i : i + SCRIPT_BATCH], [kept, score, member]
        return
    rows = [(key, item) for item, keys in by_item.items() for key in keys]
    for i in range(0, len(rows), SCRIPT_BATCH):
        part = rows[i : i + SCRIPT_BATCH]
        yield [key for key, _ in part], [kept, *(x for _, item in part for x in item)]
