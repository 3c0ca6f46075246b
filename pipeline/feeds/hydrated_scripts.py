"""The hydrated cache's Lua scripts (``pipeline.feeds.hydrated`` runs them): the page of a Redis
feed with its cached JSON in one call, the same for items already paged, and the cache's fills
and forgets. Every script takes the cache's key prefix as its first argument."""

from __future__ import annotations

from pipeline.feeds.storage.redis_scripts import CURSOR_PAGE

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

# The page of a feed, newest first, or nil when the feed has no item ``member`` to page from.
_FEED_PAGE = (
    CURSOR_PAGE
    + """
local function feed_page(key, limit, offset, mode, member)
  if mode == 'newest' then
    return redis.call('ZREVRANGE', key, offset, offset + limit - 1, 'WITHSCORES')
  end
  local raw = redis.call('ZSCORE', key, member)
  if not raw then return nil end
  local out = cursor_page(key, tonumber(raw), member, limit, offset, mode)
  if mode == 'after' then
    local flipped = {}
    for i = #out - 1, 1, -2 do
      flipped[#flipped + 1] = out[i]; flipped[#flipped + 1] = out[i + 1]
    end
    out = flipped
  end
  return out
end
"""
)

# Records the read (ARGV[first + 3] '1': active-only fan-out) and says whether Redis alone can
# answer the page: no celebrity to merge, the feed held whole, no mutes, blocks or words of its
# owner (or who has any not known). KEYS from ``first``: celebrities, epoch, built, filtered,
# reads; ARGV from ``arg``: sentinel, feed, owner, mark.
_ANSWERABLE = """
local function answerable(first, arg)
  local celebs, epoch, built, filtered = KEYS[first], KEYS[first + 1], KEYS[first + 2],
                                         KEYS[first + 3]
  local sentinel, feed, owner = ARGV[arg], ARGV[arg + 1], ARGV[arg + 2]
  if ARGV[arg + 3] == '1' then
    local t = redis.call('TIME')
    redis.call('ZADD', KEYS[first + 4],
               tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), feed)
  end
  local life = redis.call('GET', epoch)
  if redis.call('SCARD', celebs) ~= 1 or redis.call('SISMEMBER', celebs, sentinel) == 0
     or not life or redis.call('HGET', built, feed) ~= life then
    return false
  end
  return owner == '' or (redis.call('SISMEMBER', filtered, sentinel) == 1
                         and redis.call('SISMEMBER', filtered, owner) == 0)
end
"""

# A page of a Redis feed (as storage.redis pages it) and everything cached for it, or 'slow'
# when the page needs SQL: a celebrity to merge, a feed to rebuild, a cursor the feed lacks.
PAGE_SCRIPT = (
    _HYDRATE
    + _ANSWERABLE
    + _FEED_PAGE
    + """
local key, P, limit, offset, mode = KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local member = ARGV[5]
if not answerable(2, 6) or redis.call('EXISTS', key) == 0 then return {'slow'} end
local out = feed_page(key, limit, offset, mode, member)
if not out then return {'slow'} end
return hydrate(P, out)
"""
)

# On a Redis Cluster the page is two calls: FEED_PAGE on the feed's master (the page, or
# 'slow'), then CHECKED_LOOKUP on the master of the {tweetfeed} slot (the checks PAGE_SCRIPT
# makes first, the read mark, and the cached JSON).
FEED_PAGE = (
    _FEED_PAGE
    + """
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return {'slow'} end
local out = feed_page(key, tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4])
if not out then return {'slow'} end
table.insert(out, 1, 'ok')
return out
"""
)

# KEYS: celebrities, epoch, built, filtered, reads. ARGV: prefix, sentinel, feed, owner, mark
# ('1': record the read), then 'page' and FEED_PAGE's member, score pairs ('': mark only).
CHECKED_LOOKUP = (
    _HYDRATE
    + _ANSWERABLE
    + """
if not answerable(1, 2) or ARGV[6] ~= 'page' then return {'slow'} end
local out = {}
for i = 7, #ARGV do out[#out + 1] = ARGV[i] end
return hydrate(ARGV[1], out)
"""
)

# ARGV: prefix, then member, score pairs already paged (from SQL or a celebrity merge).
LOOKUP = (
    _HYDRATE
    + """
local out = {}
for i = 2, #ARGV do out[#out + 1] = ARGV[i] end
return hydrate(ARGV[1], out)
"""
)

OBJECTS = """
local out = {}
for i = 2, #ARGV do out[#out + 1] = redis.call('GET', ARGV[1] .. 'b:o:' .. ARGV[i]) end
return out
"""

# ARGV: prefix, seconds, then (name, kind, epoch seen, blob) quadruples.
FILL = """
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
FORGET = """
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
