"""The hydrated cache: activities, tweets and users as ready JSON in Redis, so that a page of a
feed is read in one round trip and no SQL (Mastodon caches rendered statuses the same way).

Keys, all under ``tweetfeed:hyd:``:

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

from pipeline.feeds import ids
from pipeline.feeds.storage import packed
from pipeline.feeds.storage.packed import evalsha_many
from pipeline.feeds.storage.redis_scripts import BUILT, CURSOR_PAGE, EPOCH
from pipeline.runtime import Runtime

PREFIX = "tweetfeed:hyd:"
HOLD_SECONDS = 600
KINDS = ("activity", "tweet", "user")  # the kinds with an epoch: what the cache may hold
SCRIPT_BATCH = 1000

_HYDRATE = """
local function hydrate(P, out)
  local res = {'ok', redis.call('GET', P .. 'epoch:activity') or '0',
               redis.call('GET', P .. 'epoch:tweet') or '0',
               redis.call('GET', P .. 'epoch:user') or '0', #out / 2}
  local refs, seen = {}, {}
  for i = 1, #out, 2 do
    local blob = redis.call('GET', P .. 'b:a:' .. out[i])
    res[#res + 1] = out[i]; res[#res + 1] = out[i + 1]; res[#res + 1] = blob
    if blob then
      local head = string.sub(blob, 1, string.find(blob, '\\n', 1, true) - 1)
      for ref in string.gmatch(head, '[^\\t]+') do
        if not seen[ref] then seen[ref] = true; refs[#refs + 1] = ref end
      end
    end
  end
  for _, ref in ipairs(refs) do
    res[#res + 1] = ref; res[#res + 1] = redis.call('GET', P .. 'b:o:' .. ref)
  end
  return res
end
"""

# A page of a Redis feed (as storage.redis pages it) and everything cached for it, or 'slow'
# when the page needs SQL: a celebrity to merge, a feed to rebuild, a cursor the feed lacks.
PAGE_SCRIPT = _PAGE = (
    _HYDRATE
    + CURSOR_PAGE
    + """
local key, celebs, epoch, built = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local P, limit, offset, mode = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local member, sentinel, feed, owner = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
if ARGV[9] == '1' then  -- active-only fan-out: the feed was read now
  local t = redis.call('TIME')
  redis.call('ZADD', KEYS[6], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), feed)
end
local life = redis.call('GET', epoch)
if redis.call('SCARD', celebs) ~= 1 or redis.call('SISMEMBER', celebs, sentinel) == 0
   or not life or redis.call('HGET', built, feed) ~= life
   or redis.call('EXISTS', key) == 0 then
  return {'slow'}
end
if owner ~= '' and (redis.call('SISMEMBER', KEYS[5], sentinel) == 0
                    or redis.call('SISMEMBER', KEYS[5], owner) == 1) then
  return {'slow'}  -- the owner's mutes, blocks or words apply (or who has any is not known)
end
if mode == 'newest' then
  return hydrate(P, redis.call('ZREVRANGE', key, offset, offset + limit - 1, 'WITHSCORES'))
end
local raw = redis.call('ZSCORE', key, member)
if not raw then return {'slow'} end
local out = cursor_page(key, tonumber(raw), member, limit, offset, mode)
if mode == 'after' then
  local flipped = {}
  for i = #out - 1, 1, -2 do flipped[#flipped + 1] = out[i]; flipped[#flipped + 1] = out[i + 1] end
  out = flipped
end
return hydrate(P, out)
"""
)

# ARGV: prefix, then member, score pairs already paged (from SQL or a celebrity merge).
_LOOKUP = (
    _HYDRATE
    + """
local out = {}
for i = 2, #ARGV do out[#out + 1] = ARGV[i] end
return hydrate(ARGV[1], out)
"""
)

_OBJECTS = """
local out = {}
for i = 2, #ARGV do out[#out + 1] = redis.call('GET', ARGV[1] .. 'b:o:' .. ARGV[i]) end
return out
"""

# ARGV: prefix, seconds, then (name, kind, epoch seen, blob) quadruples.
_FILL = """
local P, ttl, n = ARGV[1], ARGV[2], 0
for i = 3, #ARGV, 4 do
  local name, kind, seen = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if (redis.call('GET', P .. 'epoch:' .. kind) or '0') == seen
     and redis.call('EXISTS', P .. 'h:' .. name) == 0 then
    redis.call('SET', P .. 'b:' .. name, ARGV[i + 3], 'EX', ttl); n = n + 1
  end
end
return n
"""

# ARGV: prefix, 'pre' or 'post', hold seconds, kinds count, kinds..., entry names...
_FORGET = """
local P, phase, ttl, nk = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
if phase == 'post' then
  for i = 5, 4 + nk do redis.call('INCR', P .. 'epoch:' .. ARGV[i]) end
end
for i = 5 + nk, #ARGV do
  local hold = P .. 'h:' .. ARGV[i]
  redis.call('DEL', P .. 'b:' .. ARGV[i])
  if phase == 'pre' then
    redis.call('INCR', hold); redis.call('EXPIRE', hold, ttl)
  elseif redis.call('DECR', hold) <= 0 then
    redis.call('DEL', hold)
  end
end
return 1
"""


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


def page_call(
    feed: str, limit: int, offset: int, before: int | None, after: int | None,
    mark: bool = False,
) -> tuple[list[str], list[Any]]:  # fmt: skip
    """The keys and arguments of :data:`PAGE_SCRIPT` for a page of ``feed``: the newest, or
    the items before or after a cursor (an activity id). ``mark``: record the read (for
    active-only fan-out)."""
    mode = "before" if before is not None else "after" if after is not None else "newest"
    cursor = before if before is not None else after
    member = ids.member(cursor) if cursor is not None else ""
    keys = [ids.redis_key(feed), ids.CELEBRITIES, EPOCH, BUILT, ids.FILTERED, ids.READS]
    owner = ids.owner(feed) or ""
    return keys, [PREFIX, limit, offset, mode, member, ids.CELEBRITY_SENTINEL, feed, owner,
                  "1" if mark else ""]  # fmt: skip


class HydratedCache:
    """The cache's scripts on one Redis client."""

    def __init__(self, redis: Any, seconds: int) -> None:
        self.redis, self.seconds = redis, seconds
        self._page = redis.register_script(_PAGE)
        self._lookup = redis.register_script(_LOOKUP)
        self._objects = redis.register_script(_OBJECTS)
        self._fill = redis.register_script(_FILL)
        self._forget = redis.register_script(_FORGET)

    def page(
        self, feed: str, limit: int, offset: int, before: int | None, after: int | None,
        mark: bool = False,
    ) -> Lookup | None:  # fmt: skip
        """A page of ``feed`` (see :func:`page_call`) with its cached JSON; None when only the
        SQL path can tell the page."""
        keys, args = page_call(feed, limit, offset, before, after, mark)
        return reply(self._page(keys=keys, args=args))

    def lookup(self, items: Iterable[tuple[int, int]]) -> Lookup:
        """The cached JSON of items already paged: (activity id, score) pairs."""
        args: list[Any] = [PREFIX]
        for activity_id, score in items:
            args += (ids.member(activity_id), score)
        found = reply(self._lookup(args=args))
        assert found is not None
        return found

    def objects(self, refs: Sequence[str]) -> dict[str, bytes | None]:
        if not refs:
            return {}
        return dict(zip(refs, self._objects(args=[PREFIX, *refs]), strict=True))

    def fill(self, entries: Sequence[tuple[str, str, bytes, bytes]]) -> None:
        """Store (name, kind, epoch seen, blob) entries where no change came in between."""
        for start in range(0, len(entries), SCRIPT_BATCH):
            args: list[Any] = [PREFIX, self.seconds]
            for entry in entries[start : start + SCRIPT_BATCH]:
                args += entry
            self._fill(args=args)

    def forget(self, phase: str, kinds: Sequence[str], names: Sequence[str]) -> None:
        head = [PREFIX, phase, HOLD_SECONDS, len(kinds), *kinds]
        parts = range(0, max(len(names), 1), SCRIPT_BATCH)
        calls = [((), [*head, *names[start : start + SCRIPT_BATCH]]) for start in parts]
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
    packed.commands(redis, [("MULTI",), *bumps, ("DEL", *keys), ("EXEC",)])


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
