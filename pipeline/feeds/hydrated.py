"""The hydrated cache: activities, tweets and users as ready JSON in Redis, so that a page of a
feed is read in one round trip and no SQL (Mastodon caches rendered statuses the same way).

Keys, all under ``{tweetfeed}:hyd:``:

- ``b:a:<member>``: an activity: a first line naming its references (actor, object, target and
  the foreign tweet of ``pipeline.feeds.enrich.foreign_ref``, tab-separated, "" for none), then
  its JSON without the closing brace. ``b:o:<kind>:<key>``: the JSON of a referenced tweet or
  user, or ``null`` for one not stored (a retweet's original, say). Each lives
  READ_CACHE_SECONDS.
- ``epoch:<kind>`` (``activity``, ``tweet``, ``user``): bumped by every commit that deletes or
  changes entries of that kind.
- ``h:<name>``: a count of open transactions changing entry ``name``; nothing fills it meanwhile.

What deletes rows calls :func:`forget` inside its transaction. At once it holds the entries and
drops them; once the transaction commits it bumps the kinds' epochs, drops the entries again and
releases its holds. A reader fills what it loaded from SQL only while no hold is on the entry and
the kind's epoch is the one it saw before it read SQL, so a row read before a commit is never
cached after it. A transaction that rolls back, or dies between its commit and its after-commit
work, leaves its holds to expire (HOLD_SECONDS); until then the entries come from SQL.

What stores new tweets or newer profiles calls :func:`refresh` instead: once the transaction
commits, one MULTI bumps the kinds' epochs and drops the entries, with no holds (an ingest
batch names ~1,000 tweets and users, and holding each cost Redis about half its CPU in ingest).
The epochs alone keep every read that overlapped the commit out of the cache. What a hold adds
is for a worker that dies between its commit and that MULTI: an entry read before the commit may
then stay cached, a user's older profile or a null for a tweet that has since arrived, until its
task is delivered again and refreshes the batch's tweets and users. A deleted tweet is held,
always: it must never show again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from weakref import WeakKeyDictionary

from pipeline.control.redis_keys import NAMESPACE
from pipeline.feeds import ids
from pipeline.feeds.hydrated_scripts import (
    CHECKED_LOOKUP,
    FEED_PAGE,
    FILL,
    FORGET,
    LOOKUP,
    OBJECTS,
    PAGE_SCRIPT,
)
from pipeline.feeds.storage import packed
from pipeline.feeds.storage.packed import evalsha_many
from pipeline.feeds.storage.redis_scripts import BUILT, EPOCH
from pipeline.runtime import Runtime
from pipeline.store import redis_client

PREFIX = NAMESPACE + "hyd:"
# The key the cache's scripts are called with: on a Redis Cluster it sends them to the master of
# the {tweetfeed} slot, where every key they touch lives. The scripts do not read it.
ROUTE = [PREFIX]
HOLD_SECONDS = 600
KINDS = ("activity", "tweet", "user")  # the kinds with an epoch: what the cache may hold
SCRIPT_BATCH = 1000


def activity_name(activity_id: int) -> str:
    return "a:" + ids.member(activity_id)


def object_name(ref: str) -> str:
    return "o:" + ref


@dataclass
class Lookup:
    """What the cache held for a page: each item's activity blob (None: not cached), the
    cached objects by reference, and the epochs read before any of it."""

    epochs: dict[str, bytes]
    items: list[tuple[int, int, bytes | None]]  # (activity id, score, blob)
    objects: dict[str, bytes | None] = field(default_factory=dict)


def reply(answer: list[Any]) -> Lookup | None:
    """What :data:`PAGE_SCRIPT` (or the lookup script) answered; None for 'slow'."""
    if answer[0] != b"ok":
        return None
    epochs = dict(zip(KINDS, answer[1:4], strict=True))
    count = int(answer[4])
    end = 5 + 3 * count
    items = [(int(answer[i]), int(float(answer[i + 1])), answer[i + 2]) for i in range(5, end, 3)]
    objects = {answer[i].decode(): answer[i + 1] for i in range(end, len(answer), 2)}
    return Lookup(epochs, items, objects)


# What decides whether Redis alone answers a page (PAGE_SCRIPT's keys after the feed's).
CHECKED_KEYS = [ids.CELEBRITIES, EPOCH, BUILT, ids.FILTERED, ids.READS]


def page_call(
    feed: str, limit: int, offset: int, before: int | None, after: int | None,
    mark: bool = False, cluster: bool = False,
) -> tuple[list[str], list[Any]]:  # fmt: skip
    """The keys and arguments of :data:`PAGE_SCRIPT` for a page of ``feed``: the newest, or
    the items before or after a cursor (an activity id). ``mark``: record the read (for
    active-only fan-out). ``cluster``: the feed's key as on a Redis Cluster."""
    mode = "before" if before is not None else "after" if after is not None else "newest"
    cursor = before if before is not None else after
    member = ids.member(cursor) if cursor is not None else ""
    keys = [ids.key_for(cluster)(feed), *CHECKED_KEYS]
    owner = ids.owner(feed) or ""
    return keys, [PREFIX, limit, offset, mode, member, ids.CELEBRITY_SENTINEL, feed, owner,
                  "1" if mark else ""]  # fmt: skip


class HydratedCache:
    """The cache's scripts on one Redis client."""

    def __init__(self, redis: Any, seconds: int) -> None:
        self.redis, self.seconds = redis, seconds
        self.cluster = redis_client.is_cluster(redis)
        self._page = redis.register_script(PAGE_SCRIPT)
        self._feed_page = redis.register_script(FEED_PAGE)
        self._checked = redis.register_script(CHECKED_LOOKUP)
        self._lookup = redis.register_script(LOOKUP)
        self._objects = redis.register_script(OBJECTS)
        self._fill = redis.register_script(FILL)
        self._forget = redis.register_script(FORGET)

    def page(
        self, feed: str, limit: int, offset: int, before: int | None, after: int | None,
        mark: bool = False,
    ) -> Lookup | None:  # fmt: skip
        """A page of ``feed`` (see :func:`page_call`) with its cached JSON; None when only the
        SQL path can tell the page."""
        keys, args = page_call(feed, limit, offset, before, after, mark, self.cluster)
        if not self.cluster:
            return reply(self._page(keys=keys, args=args))
        # The feed and the cache are on different masters: the page, then the rest.
        page = self._feed_page(keys=keys[:1], args=args[1:5])
        head = [PREFIX, *args[5:]]
        if page[0] != b"ok":
            if mark:
                self._checked(keys=CHECKED_KEYS, args=[*head, ""])
            return None
        return reply(self._checked(keys=CHECKED_KEYS, args=[*head, "page", *page[1:]]))

    def lookup(self, items: Iterable[tuple[int, int]]) -> Lookup:
        """The cached JSON of items already paged: (activity id, score) pairs."""
        args: list[Any] = [PREFIX]
        for activity_id, score in items:
            args += (ids.member(activity_id), score)
        found = reply(self._lookup(keys=ROUTE, args=args))
        assert found is not None
        return found

    def objects(self, refs: Sequence[str]) -> dict[str, bytes | None]:
        if not refs:
            return {}
        return dict(zip(refs, self._objects(keys=ROUTE, args=[PREFIX, *refs]), strict=True))

    def fill(self, entries: Sequence[tuple[str, str, bytes, bytes]]) -> None:
        """Store (name, kind, epoch seen, blob) entries where no change came in between."""
        for start in range(0, len(entries), SCRIPT_BATCH):
            args: list[Any] = [PREFIX, self.seconds]
            for entry in entries[start : start + SCRIPT_BATCH]:
                args += entry
            self._fill(keys=ROUTE, args=args)

    def forget(self, phase: str, kinds: Sequence[str], names: Sequence[str]) -> None:
        head = [PREFIX, phase, HOLD_SECONDS, len(kinds), *kinds]
        parts = range(0, max(len(names), 1), SCRIPT_BATCH)
        calls = [(ROUTE, [*head, *names[start : start + SCRIPT_BATCH]]) for start in parts]
        evalsha_many(self.redis, self._forget, calls)


_CACHES: WeakKeyDictionary[Runtime, HydratedCache] = WeakKeyDictionary()


def _cache(rt: Runtime) -> HydratedCache:
    found = _CACHES.get(rt)
    if found is None:
        found = _CACHES[rt] = HydratedCache(rt.redis, max(rt.settings.read_cache_seconds, 1))
    return found


def for_reads(rt: Runtime) -> HydratedCache | None:
    """The cache a feed read uses, or None: feeds read from SQL, or READ_CACHE_SECONDS=0."""
    if rt.settings.feed_backend != "redis" or rt.settings.read_cache_seconds <= 0:
        return None
    return _cache(rt)


def refresh(rt: Runtime, *, tweets: Iterable[int] = (), users: Iterable[int] = ()) -> None:
    """Call inside the transaction that stores these tweets, or newer profiles of these users:
    once it commits, their cached copies go and the reads that overlapped it cache nothing."""
    kinds, names = [], []
    for kind, keys in (("tweet", tweets), ("user", users)):
        more = [PREFIX + "b:" + name for name in _object_names(kind, keys)]
        if more:
            names += more
            kinds.append(kind)
    if names:
        rt.after_commit(partial(_refresh, rt.redis, kinds, names))


def _object_names(kind: str, keys: Iterable[int]) -> list[str]:
    return [object_name(f"{kind}:{k}") for k in sorted(set(keys))]


def _refresh(redis: Any, kinds: Sequence[str], keys: Sequence[str]) -> None:
    bumps = [("INCR", PREFIX + "epoch:" + kind) for kind in kinds]
    packed.commands(redis, [("MULTI",), *bumps, ("DEL", *keys), ("EXEC",)], route=PREFIX)


def forget(rt: Runtime, *, activities: Iterable[int] = (), tweets: Iterable[int] = ()) -> None:
    """Call inside the transaction that deletes these activities or tweets: no cached copy
    outlives its commit, even when the process dies right after it (see the module
    docstring)."""
    names = [activity_name(a) for a in sorted(set(activities))]
    kinds = ["activity"] if names else []
    deleted = _object_names("tweet", tweets)
    if deleted:
        names += deleted
        kinds.append("tweet")
    if not names:
        return
    cache = _cache(rt)
    cache.forget("pre", kinds, names)
    rt.after_commit(partial(cache.forget, "post", kinds, names))
