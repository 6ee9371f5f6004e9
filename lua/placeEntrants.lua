--[[
  Place a randomized start's entrants in a shard's line, in drawn order, by the shard's owner at
  the start (src/sale/allocation/start-placement.ts). One call places one chunk; the caller draws
  the order (HMAC-SHA256 of the committed seed over each entry id, src/sale/allocation/draw.ts)
  from the sealed entrants and sends it chunk by chunk.

  The entry list is sealed first if no buy after the start did it (lua/includes/sealEntrants.lua):
  positions base+1 .. base+n are the entrants'. A chunk is placed only by the lease holder, only
  if it starts where the placement stands (`from` = entrants placed so far) and was drawn from the
  n sealed entrants, and only if every buyer in it is an entrant with that entry id who holds no
  position: a former owner that wakes late, a second worker, or a chunk sent twice changes
  nothing, and a crash between chunks leaves a placement the next owner continues. Each placed
  entrant gets the next position, a queued ticket, its job (written as BullMQ's `add` writes it,
  lua/includes/addBuyJob.lua) and its entry id appended to `startOrder`. An entrant banned since
  entering (KEYS[20]) is placed all the same, its ticket born final `failed` (reason `banned`) and
  out of `pending`: the positions stay contiguous, the job lets the drain pass the position in
  order (lua/reserveStock skips a final ticket), and nobody is refused (a refusal here would stop
  the placement, and the drain's breaker would count it).

  With an empty tail the call only seals (if needed) and reports.

  Input:
    KEYS[1]  lease          str   token of the shard's owner
    KEYS[2]  entrants       hash  user -> entry id
    KEYS[3]  startSeal      str   "<base>:<n>" once sealed
    KEYS[4]  startPlaced    int   entrants placed so far
    KEYS[5]  holders        hash  user -> queue position
    KEYS[6]  tickets        hash  queue position -> "user|status|detail"
    KEYS[7]  qseq           int   last queue position handed out
    KEYS[8]  pending        int   admitted tickets not yet decided
    KEYS[9]  drained        int   highest queue position decided
    KEYS[10] stock          int   unreserved units (missing: the shard is not warm, Redis lost it)
    KEYS[11] startOrder     list  entry ids in placed order
    KEYS[12] rejected       set   users answered sold_out at the gate (an entrant is never one)
    KEYS[13] wait           list  BullMQ: job ids waiting
    KEYS[14] active         list  BullMQ: job ids taken by the shard's owner
    KEYS[15] meta           hash  BullMQ: the queue's settings
    KEYS[16] id             int   BullMQ: jobs added so far
    KEYS[17] events         stream  BullMQ: the queue's events
    KEYS[18] marker         zset  BullMQ: tells blocked workers a job is ready
    KEYS[19] jobPrefix      key prefix of BullMQ's job hashes
    KEYS[20] banned         set   users an admin banned: placed as `failed`, reason `banned`

    ARGV[1]  leaseToken     the caller's lease token
    ARGV[2]  from           entrants the caller believes placed (the chunk starts there)
    ARGV[3]  count          entrants the caller drew from (must be the sealed n)
    ARGV[4]  wake           the shard's wake channel (rung when the first chunk lands)
    ARGV[5]  ticketPrefix   ticket id prefix of the shard ("<event>-<shard>-")
    ARGV[6]  bullmqVersion  BullMQ's `meta` version field
    ARGV[7]  eventsMaxLen   length the queue's event stream is kept near
    ARGV[8..] placements    "<user>:<entry id>" in drawn order, the chunk

  Output: { code, base, n, placed }
     0  done (the chunk placed, or nothing sent: sealed and reported)
     1  the chunk was not placed: it does not start where the placement stands, or was drawn
        from another count (the caller reads again)
    -1  the lease is not the caller's: nothing changed
    -2  the shard is not warm (Redis lost it): nothing changed
    -3  a buyer in the chunk is not an entrant with that entry id, or holds a position already:
        nothing changed
]]
--@include "addBuyJob.lua"
--@include "sealEntrants.lua"

if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return { -1, 0, 0, 0 }
end
if redis.call('EXISTS', KEYS[10]) == 0 then
  return { -2, 0, 0, 0 }
end

local base, n = sealEntrants(KEYS[2], KEYS[3], KEYS[7], KEYS[8])
local placed = tonumber(redis.call('GET', KEYS[4]) or '0')
local count = #ARGV - 7
if count == 0 then
  return { 0, base, n, placed }
end
if tonumber(ARGV[2]) ~= placed or tonumber(ARGV[3]) ~= n or placed + count > n then
  return { 1, base, n, placed }
end

local users = {}
local entries = {}
for i = 1, count do
  local item = ARGV[7 + i]
  local sep = string.find(item, ':', 1, true)
  if not sep then
    return { -3, base, n, placed }
  end
  local user = string.sub(item, 1, sep - 1)
  local entry = string.sub(item, sep + 1)
  if redis.call('HGET', KEYS[2], user) ~= entry or redis.call('HEXISTS', KEYS[5], user) == 1
      or redis.call('SISMEMBER', KEYS[12], user) == 1 then
    return { -3, base, n, placed }
  end
  users[i] = user
  entries[i] = entry
end

local clock = redis.call('TIME')
local nowMs = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
for i = 1, count do
  local qpos = base + placed + i
  redis.call('HSET', KEYS[5], users[i], qpos)
  if redis.call('SISMEMBER', KEYS[20], users[i]) == 1 then
    redis.call('HSET', KEYS[6], qpos, users[i] .. '|failed|banned')
    redis.call('DECR', KEYS[8])
  else
    redis.call('HSET', KEYS[6], qpos, users[i] .. '|queued|')
  end
  redis.call('RPUSH', KEYS[11], entries[i])
  addBuyJob(ARGV[5] .. qpos, '{"u":"' .. users[i] .. '","q":' .. qpos .. '}', nowMs, '')
end
redis.call('SET', KEYS[4], placed + count)
if placed == 0 then
  redis.call('PUBLISH', ARGV[4], 'j')
end
return { 0, base, n, placed + count }
