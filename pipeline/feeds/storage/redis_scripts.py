"""The Redis feed store's Lua scripts and the keys of its own that they name (the removal
record and the marks of feeds held whole); ``storage.redis`` runs them.

Every script takes its feed keys in KEYS; the record and the marks are named here once.
"""

from __future__ import annotations

from pipeline.control.redis_keys import NAMESPACE
from pipeline.feeds import ids

# Removed activities, kept for a while so that a late write of one is refused (a sorted set:
# member the activity, score the removal in ms), and since when they have been kept (ms): a
# Redis that lost its data has forgotten the removals before that.
REMOVED = NAMESPACE + "removed"
REMOVED_SINCE = NAMESPACE + "removed:since"

# Which feeds Redis holds whole: a feed is copied from SQL (rebuilt) the first time it is read
# in this Redis's life, and marked here with the life's token (EPOCH, made by whoever needs it
# first). A Redis that lost its data lost both, so every feed is rebuilt on its next read,
# including one that writes made again since (holding only those).
EPOCH = NAMESPACE + "feeds:epoch"
BUILT = NAMESPACE + "feeds:built"

# Whether the removal record covers every removal since a write planned at ``planned`` (ms, -1:
# unknown), the record keeping removals ``window`` ms.
_COVERED = (
    """
local function covers(planned, window)
  local since = tonumber(redis.call('GET', '"""
    + REMOVED_SINCE
    + """') or '-1')
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  return since >= 0 and planned >= since and now - planned < window
end
"""
)

# ARGV: the feeds' max length, when the write was planned (ms, -1: unknown), how old a planned
# write may be for the removal record to cover it (ms), then a score and an activity id per
# key, or just one score and activity id for every key (a fan-out chunk: one activity, many
# feeds). An activity the record holds is not written. Returns 1 when the record covers every
# removal since the write was planned, 0 when the caller must look in SQL instead. Members are
# padded here rather than in Python: fewer bytes to build and send for every feed write.
ADD = (
    """
local keep = -(tonumber(ARGV[1]) + 1)
local width = '%0"""
    + str(ids.MEMBER_WIDTH)
    + """d'
"""
    + _COVERED
    + """
local covered = covers(tonumber(ARGV[2]), tonumber(ARGV[3]))
local gone = {}
local function removed(member)
  if gone[member] == nil then
    gone[member] = redis.call('ZSCORE', '"""
    + REMOVED
    + """', member) ~= false
  end
  return gone[member]
end
if #ARGV == 5 then
  local score, member = ARGV[4], string.format(width, tonumber(ARGV[5]))
  if not removed(member) then
    for _, key in ipairs(KEYS) do
      redis.call('ZADD', key, score, member)
      redis.call('ZREMRANGEBYRANK', key, 0, keep)
    end
  end
  return covered and 1 or 0
end
for i, key in ipairs(KEYS) do
  local member = string.format(width, tonumber(ARGV[2 * i + 3]))
  if not removed(member) then
    redis.call('ZADD', key, ARGV[2 * i + 2], member)
    redis.call('ZREMRANGEBYRANK', key, 0, keep)
  end
end
return covered and 1 or 0
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

PAGE = (
    CURSOR_PAGE
    + """
local key, limit, offset, mode = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
if mode == 'newest' then
  return redis.call('ZREVRANGE', key, offset, offset + limit - 1, 'WITHSCORES')
end
return cursor_page(key, tonumber(ARGV[4]), ARGV[5], limit, offset, mode)
"""
)


# KEYS: the feed, the removal record, the built marks. ARGV: max length, feed, epoch, then
# (score, member) pairs. Adds what the record does not hold, keeps what is there, trims, marks.
FILL = """
local key, removed, built = KEYS[1], KEYS[2], KEYS[3]
for i = 4, #ARGV, 2 do
  if not redis.call('ZSCORE', removed, ARGV[i + 1]) then
    redis.call('ZADD', key, ARGV[i], ARGV[i + 1])
  end
end
redis.call('ZREMRANGEBYRANK', key, 0, -(tonumber(ARGV[1]) + 1))
redis.call('HSET', built, ARGV[2], ARGV[3])
return 1
"""


# On a Redis Cluster, a write's feeds are on every master and the record on one: the record is
# read before (and after) the write instead of inside it (``storage.redis_cluster``).
#
# KEYS: the record's since key, the record. ARGV: planned and window as ADD's, then members.
# Returns 1 or 0 as ADD does, then the members the record holds.
CHECK = (
    _COVERED
    + """
local out = {covers(tonumber(ARGV[1]), tonumber(ARGV[2])) and 1 or 0}
for i = 3, #ARGV do
  if redis.call('ZSCORE', KEYS[2], ARGV[i]) then out[#out + 1] = ARGV[i] end
end
return out
"""
)

# KEYS: feeds of one slot. ARGV: their max length, then one score and member for every key, or
# a score and member per key. Adds and trims; every member is written.
ADD_SLOT = """
local keep = -(tonumber(ARGV[1]) + 1)
if #ARGV == 3 then
  for _, key in ipairs(KEYS) do
    redis.call('ZADD', key, ARGV[2], ARGV[3])
    redis.call('ZREMRANGEBYRANK', key, 0, keep)
  end
  return 1
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[2 * i], ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYRANK', key, 0, keep)
end
return 1
"""
