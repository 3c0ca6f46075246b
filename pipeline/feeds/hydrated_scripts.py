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

# A page of a Redis feed (as storage.redis pages it) and everything cached for it, or 'slow'
# when the page needs SQL: a celebrity to merge, a feed to rebuild, a cursor the feed lacks.
PAGE_SCRIPT = (
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
