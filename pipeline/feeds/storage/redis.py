"""The Redis feed backend: a sorted set per feed, written and paged by Lua scripts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from pipeline.feeds import ids
from pipeline.feeds.storage.base import Item, MaxLength, by_feed

# Entries per EVALSHA: bounds the time Redis spends in one script, so reads are not held up.
SCRIPT_BATCH = 1000

# ARGV: the feeds' max length, then a score and an activity id per key, or just one score and
# activity id for every key (a fan-out chunk: one activity, many feeds). Members are padded
# here rather than in Python: fewer bytes to build and send for every feed write.
_ADD = (
    """
local keep = -(tonumber(ARGV[1]) + 1)
local width = '%0"""
    + str(ids.MEMBER_WIDTH)
    + """d'
if #ARGV == 3 then
  local score, member = ARGV[2], string.format(width, tonumber(ARGV[3]))
  for _, key in ipairs(KEYS) do
    redis.call('ZADD', key, score, member)
    redis.call('ZREMRANGEBYRANK', key, 0, keep)
  end
  return #KEYS
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[2 * i], string.format(width, tonumber(ARGV[2 * i + 1])))
  redis.call('ZREMRANGEBYRANK', key, 0, keep)
end
return #KEYS
"""
)

# Items strictly older (before) or newer (after) than the cursor (score, member): every item
# with an equal score is fetched too, then filtered, so ties page exactly as SQL orders them.
# A Lua function, shared with the cached page script of ``pipeline.feeds.hydrated``.
CURSOR_PAGE = """
local function cursor_page(key, score, member, limit, offset, mode)
  local ties = redis.call('ZCOUNT', key, score, score)
  local got
  if mode == 'before' then
    got = redis.call('ZREVRANGEBYSCORE', key, score, '-inf', 'WITHSCORES',
                     'LIMIT', 0, offset + limit + ties)
  else
    got = redis.call('ZRANGEBYSCORE', key, score, '+inf', 'WITHSCORES',
                     'LIMIT', 0, offset + limit + ties)
  end
  local out, skipped = {}, 0
  for i = 1, #got, 2 do
    local m, s = got[i], tonumber(got[i + 1])
    local keep
    if mode == 'before' then keep = s < score or m < member else keep = s > score or m > member end
    if keep then
      if skipped < offset then skipped = skipped + 1
      elseif #out < limit * 2 then out[#out + 1] = m; out[#out + 1] = got[i + 1] end
    end
  end
  return out
end
"""

_PAGE = (
    CURSOR_PAGE
    + """
local key, limit, offset, mode = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
if mode == 'newest' then
  return redis.call('ZREVRANGE', key, offset, offset + limit - 1, 'WITHSCORES')
end
return cursor_page(key, tonumber(ARGV[4]), ARGV[5], limit, offset, mode)
"""
)


def _items(flat: list[Any]) -> list[Item]:
    return [Item(int(float(flat[i + 1])), int(flat[i])) for i in range(0, len(flat), 2)]


class RedisFeedStore:
    """Feeds as Redis sorted sets: members are zero-padded activity ids, scores milliseconds."""

    def __init__(self, redis: Any, max_length: MaxLength) -> None:
        self.redis = redis
        self.max_length = max_length
        self._add = redis.register_script(_ADD)
        self._page = redis.register_script(_PAGE)

    def add(self, entries: Sequence[tuple[str, Item]]) -> None:
        """Every entry in one round trip: a pipeline of Lua calls, each ZADD then trim."""
        if not entries:
            return
        by_length: dict[int, list[tuple[str, Item]]] = defaultdict(list)
        for entry in entries:
            by_length[self.max_length(entry[0])].append(entry)
        calls: list[tuple[list[str], list[Any]]] = []
        for length, same in by_length.items():
            for start in range(0, len(same), SCRIPT_BATCH):
                part = same[start : start + SCRIPT_BATCH]
                args: list[Any] = [length]
                items = {item for _, item in part}
                if len(items) == 1:
                    (item,) = items
                    args += (item.score, item.activity_id)
                else:
                    for _, item in part:
                        args += (item.score, item.activity_id)
                calls.append(([ids.PREFIX + f for f, _ in part], args))
        if len(calls) == 1:
            # One call needs no pipeline, whose every execute first asks SCRIPT EXISTS.
            self._add(keys=calls[0][0], args=calls[0][1])
            return
        pipe = self.redis.pipeline(transaction=False)
        for keys, args in calls:
            self._add(keys=keys, args=args, client=pipe)
        pipe.execute()

    def remove(self, entries: Sequence[tuple[str, int]]) -> None:
        if not entries:
            return
        pipe = self.redis.pipeline(transaction=False)
        for feed, members in by_feed(entries).items():
            pipe.zrem(ids.redis_key(feed), *map(ids.member, members))
        pipe.execute()

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
        items = _items(self._page(keys=[ids.redis_key(feed)], args=args))
        return items[::-1] if mode == "after" else items

    def count(self, feed: str) -> int:
        return int(self.redis.zcard(ids.redis_key(feed)))

    def score(self, feed: str, activity_id: int) -> int | None:
        value = self.redis.zscore(ids.redis_key(feed), ids.member(activity_id))
        return None if value is None else int(value)

    def oldest(self, feed: str) -> Item | None:
        found = self.redis.zrange(ids.redis_key(feed), 0, 0, withscores=True)
        return Item(int(found[0][1]), int(found[0][0])) if found else None

    def exists(self, feed: str) -> bool:
        return bool(self.redis.exists(ids.redis_key(feed)))

    def replace(self, feed: str, items: Iterable[Item]) -> None:
        key = ids.redis_key(feed)
        mapping = {ids.member(i.activity_id): i.score for i in items}
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(key)
        if mapping:
            pipe.zadd(key, mapping)
            pipe.zremrangebyrank(key, 0, -(self.max_length(feed) + 1))
        pipe.execute()
