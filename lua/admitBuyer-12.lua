--[[
  Admit one buyer to one event shard: ban, dedupe, gate, queue position. One round trip.

  A banned buyer is refused before anything else (the ban is copied into every shard of the live
  events when it is made, and into a shard when it is warmed).
  A buyer who already holds a ticket for the shard gets it back (idempotent resubmit). Otherwise,
  when the shard is closed (event sold out) or its admitted-but-undecided tickets have reached the
  gate -- ceil(overbook x (own unreserved stock + free units last seen at sibling shards)) -- the
  buyer is answered sold_out and remembered as such. Otherwise, for a sale that requires a buy
  token, the buyer's token is checked and used up (single use), and the buyer gets the next queue
  position and a ticket in status queued.

  Input:
    KEYS[1]  holders      hash  user -> queue position
    KEYS[2]  rejected     set   users answered sold_out at the gate
    KEYS[3]  tickets      hash  queue position -> "user|status|detail"
    KEYS[4]  qseq         int   last queue position handed out
    KEYS[5]  stock        int   unreserved units of the shard (missing = shard not warmed)
    KEYS[6]  pending      int   admitted tickets not yet decided
    KEYS[7]  peers        hash  sibling shard -> free units last seen there
    KEYS[8]  closed       flag  event sold out
    KEYS[9]  rejected-at  int   qseq at the first gate rejection (set once)
    KEYS[10] drained      int   highest queue position decided
    KEYS[11] buy-tokens   hash  user -> "<token>:<expires at, ms>"
    KEYS[12] banned       set   users an admin banned

    ARGV[1]  user id
    ARGV[2]  overbook factor (>= 1)
    ARGV[3]  the buyer's buy token, "" when none was given, "-" when the sale requires none
    ARGV[4]  the shard's wake channel: a ticket admitted when every earlier one is decided is
             published there ("j"), since the shard's drain may be idle (it then waits on one
             subscriber connection per worker rather than a blocking command of its own)

  Output: { code, queue position, position in line, ticket value }
     1  queued now
     2  the buyer's existing ticket (value is "user|status|detail")
     3  sold out, answered now
     4  sold out, answered before
    -1  shard not warmed (no stock key)
    -2  the sale requires a buy token and the buyer's is missing, wrong, used or expired
    -3  the buyer is banned
]]
local user = ARGV[1]

if redis.call('SISMEMBER', KEYS[12], user) == 1 then
  return { -3, 0, 0, '' }
end

local held = redis.call('HGET', KEYS[1], user)
if held then
  local drained = tonumber(redis.call('GET', KEYS[10]) or '0')
  local value = redis.call('HGET', KEYS[3], held) or ''
  return { 2, tonumber(held), tonumber(held) - drained, value }
end

if redis.call('SISMEMBER', KEYS[2], user) == 1 then
  return { 4, 0, 0, '' }
end

local stock = redis.call('GET', KEYS[5])
if not stock then
  return { -1, 0, 0, '' }
end

local reject = redis.call('EXISTS', KEYS[8]) == 1
if not reject then
  local free = tonumber(stock)
  local seen = redis.call('HVALS', KEYS[7])
  for i = 1, #seen do
    local n = tonumber(seen[i])
    if n and n > 0 then free = free + n end
  end
  local pending = tonumber(redis.call('GET', KEYS[6]) or '0')
  reject = pending >= math.ceil(free * tonumber(ARGV[2]) - 1e-9)
end

if reject then
  redis.call('SADD', KEYS[2], user)
  redis.call('SET', KEYS[9], redis.call('GET', KEYS[4]) or '0', 'NX')
  return { 3, 0, 0, '' }
end

if ARGV[3] ~= '-' then
  local held = redis.call('HGET', KEYS[11], user)
  if not held then
    return { -2, 0, 0, '' }
  end
  local sep = string.find(held, ':', 1, true)
  local now = redis.call('TIME')
  local nowMs = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  if string.sub(held, 1, sep - 1) ~= ARGV[3] or tonumber(string.sub(held, sep + 1)) < nowMs then
    return { -2, 0, 0, '' }
  end
  redis.call('HDEL', KEYS[11], user)
end

local qpos = redis.call('INCR', KEYS[4])
redis.call('INCR', KEYS[6])
redis.call('HSET', KEYS[1], user, qpos)
redis.call('HSET', KEYS[3], qpos, user .. '|queued|')
local drained = tonumber(redis.call('GET', KEYS[10]) or '0')
if qpos - 1 <= drained then
  redis.call('PUBLISH', ARGV[4], 'j')
end
return { 1, qpos, qpos - drained, '' }
