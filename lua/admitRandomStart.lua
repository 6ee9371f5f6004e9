--[[
  Admit one buyer to one shard of a randomized start (entry random_at_start,
  src/sale/allocation/random-start.ts): lua/admitBuyer, with the lead window in front of it.

  Before the entry list is sealed, a buyer in the lead window (Redis's TIME before the sale's
  start) passes the same rate limit, ban and buy token checks as a buy, and is recorded as an
  entrant with the new entry id (answer 5); asking again gives the same entry back (6), before
  and after the seal, until the owner places them (then they hold a queue position and get it
  back as any holder, 2). No queue position and no job yet: those are handed out in drawn order
  at the start by the shard's owner (lua/placeEntrants). A shard takes at most maxEntrants
  entrants (-9 when full, nothing recorded): the seal hands out that many positions at once, and
  a rebuild after Redis loss starts its positions past that cap (src/stock/sale-state.ts
  rebuildFloor).

  The first buy at or after the start seals the list if the owner has not yet
  (lua/includes/sealEntrants.lua): positions are kept for every entrant, then the buy is admitted
  as lua/admitBuyer admits it, behind them all, and the owner is rung to place them.

  The window's opening (ARGV[16]) and its close are both judged here on Redis's TIME, not on the ingress's clock: one clock for every
  ingress, read in the same atomic step that seals, so one ingress whose clock runs fast cannot end
  the lead window for everyone (nor a slow one let a buy enter after the seal: the seal decides).
  Not MySQL's clock: that would cost every buy a MySQL round trip, and no MySQL-derived offset is
  kept in Redis; the owner places only from the start on MySQL's clock (start-placement.ts), so a
  Redis clock a little ahead seals a little early but sells nothing before the start.
  Everything from the dedupe on is lua/admitBuyer's (see there for the gate, the token and the job
  written as BullMQ's `add`).

  Input:
    KEYS[1]  holders        hash    user -> queue position
    KEYS[2]  rejected       set     users answered sold_out at the gate
    KEYS[3]  tickets        hash    queue position -> "user|status|detail"
    KEYS[4]  qseq           int     last queue position handed out
    KEYS[5]  stock          int     unreserved units of the shard (missing = shard not warmed)
    KEYS[6]  pending        int     admitted tickets not yet decided (entrants count from the seal)
    KEYS[7]  peers          hash    sibling shard -> free units last seen there
    KEYS[8]  closed         flag    event sold out
    KEYS[9]  rejectedAt     int     qseq at the first gate rejection (set once)
    KEYS[10] drained        int     highest queue position decided
    KEYS[11] buyTokens      hash    user -> "<token>:<expires at, ms>"
    KEYS[12] banned         set     users an admin banned
    KEYS[13] wait           list    BullMQ: job ids waiting (new ones pushed on the left)
    KEYS[14] active         list    BullMQ: job ids taken by the shard's owner
    KEYS[15] meta           hash    BullMQ: the queue's settings
    KEYS[16] id             int     BullMQ: jobs added so far
    KEYS[17] events         stream  BullMQ: the queue's events
    KEYS[18] marker         zset    BullMQ: tells blocked workers a job is ready
    KEYS[19] jobPrefix      key prefix of BullMQ's job hashes
    KEYS[20] buyRate        key prefix of the rate-limit windows (lua/admitBuyer)
    KEYS[21] node           str     on a Redis Cluster, the node the shard was warmed on
    KEYS[22] entrants       hash    user -> entry id: the lead window's buyers
    KEYS[23] startSeal      str     "<base>:<n>" once the entry list is sealed

    ARGV[1]  userId         the buyer
    ARGV[2]  overbook       overbook factor (>= 1)
    ARGV[3]  buyToken       the buyer's buy token, "" when none was given, "-" when the sale
                            requires none
    ARGV[4]  wake           the shard's wake channel
    ARGV[5]  ticketPrefix   ticket id prefix of the shard ("<event>-<shard>-")
    ARGV[6]  bullmqVersion  BullMQ's `meta` version field
    ARGV[7]  eventsMaxLen   length the queue's event stream is kept near
    ARGV[8]  rateMax        buys a buyer may make in one window
    ARGV[9]  rateWindowMs   rate-limit window, ms
    ARGV[10] traceParent    the buy's trace context, or ""
    ARGV[11] cluster        "1" on a Redis Cluster
    ARGV[12] startAtMs      the sale's start (ms since the epoch): before it on Redis's TIME is the lead
                            window
    ARGV[13] entryId        a new random entry id (32 hex digits), kept if the buyer enters now
    ARGV[14] maxEntrants    entrants a shard takes at most
    ARGV[15] drawOnly       "1" for a draw (mode draw, src/sale/allocation/draw-sale.ts): once
                            the list is sealed nobody new is admitted (-11), the start is the
                            close; "0" for a randomized start (later buyers queue behind)
    ARGV[16] opensAtMs      the lead window's opening (startAtMs - lead_ms): before it on Redis's
                            TIME nobody is admitted (-12), as the close is judged here too

  Output: { code, queue position (for 5: entrants so far; for -4: ms left), position in line,
  ticket value (for 5 and 6: the entry id) }, codes as lua/admitBuyer's and:
     5  entered now: the buyer's place will be drawn at the start
     6  entered before (the same entry id)
    -9  the lead window of the shard is full (maxEntrants): not entered, ask again at the start
   -12  the lead window has not opened on Redis's TIME (before opensAtMs): nothing recorded,
        not even the rate limit
   -11  a draw whose entries are closed (sealed) and the buyer holds no entry: nothing recorded,
        nothing counted but the rate limit (the buyer's entry and ticket are answered before:
        codes 2 and 6)
]]
--@include "addBuyJob.lua"
--@include "sealEntrants.lua"

local user = ARGV[1]

-- Not warm: nothing else is looked at or counted (the caller warms the shard and asks again).
local stock = redis.call('GET', KEYS[5])
if not stock then
  return { -1, 0, 0, '' }
end

-- A deployment whose Redis user may not run CLUSTER MYID still sells (unchecked).
local me = ARGV[11] == '1' and redis.pcall('CLUSTER', 'MYID')
if type(me) == 'string' then
  local seen = redis.call('GET', KEYS[21])
  if not seen then
    redis.call('SET', KEYS[21], me)
  elseif seen ~= me then
    return { -5, 0, 0, '' }
  end
end

local clock = redis.call('TIME')
local nowMs = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

-- The opening is judged on the same clock as the close: an ingress whose clock runs fast enters
-- nobody early, and one whose clock runs slow (it no longer refuses on its own) turns nobody away
-- inside the window.
if nowMs < tonumber(ARGV[16]) then
  return { -12, 0, 0, '' }
end

local windowMs = tonumber(ARGV[9])
local window = math.floor(nowMs / windowMs)
if redis.call('HINCRBY', KEYS[20] .. window, user, 1) > tonumber(ARGV[8]) then
  return { -4, (window + 1) * windowMs - nowMs, 0, '' }
end
redis.call('PEXPIREAT', KEYS[20] .. window, (window + 2) * windowMs, 'NX')

if redis.call('SISMEMBER', KEYS[12], user) == 1 then
  return { -3, 0, 0, '' }
end

local held = redis.call('HGET', KEYS[1], user)
if held then
  local drained = tonumber(redis.call('GET', KEYS[10]) or '0')
  local value = redis.call('HGET', KEYS[3], held) or ''
  return { 2, tonumber(held), tonumber(held) - drained, value }
end

local entry = redis.call('HGET', KEYS[22], user)
if entry then
  return { 6, 0, 0, entry }
end

if redis.call('SISMEMBER', KEYS[2], user) == 1 then
  return { 4, 0, 0, '' }
end

if redis.call('EXISTS', KEYS[23]) == 0 then
  if nowMs < tonumber(ARGV[12]) then
    if redis.call('HLEN', KEYS[22]) >= tonumber(ARGV[14]) then
      return { -9, 0, 0, '' }
    end
    if ARGV[3] ~= '-' then
      local given = redis.call('HGET', KEYS[11], user)
      if not given then
        return { -2, 0, 0, '' }
      end
      local sep = string.find(given, ':', 1, true)
      if string.sub(given, 1, sep - 1) ~= ARGV[3] or tonumber(string.sub(given, sep + 1)) < nowMs then
        return { -2, 0, 0, '' }
      end
      redis.call('HDEL', KEYS[11], user)
    end
    redis.call('HSET', KEYS[22], user, ARGV[13])
    return { 5, redis.call('HLEN', KEYS[22]), 0, ARGV[13] }
  end
  local _, n = sealEntrants(KEYS[22], KEYS[23], KEYS[4], KEYS[6])
  if n > 0 then
    redis.call('PUBLISH', ARGV[4], 'j')
  end
end

-- A draw takes no buy after the close: the seal (this script's or the owner's), not a clock,
-- says the entries are closed, so an entry and a refusal are never both given for one instant.
if ARGV[15] == '1' then
  return { -11, 0, 0, '' }
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
  if string.sub(held, 1, sep - 1) ~= ARGV[3] or tonumber(string.sub(held, sep + 1)) < nowMs then
    return { -2, 0, 0, '' }
  end
  redis.call('HDEL', KEYS[11], user)
end

local qpos = redis.call('INCR', KEYS[4])
redis.call('INCR', KEYS[6])
redis.call('HSET', KEYS[1], user, qpos)
redis.call('HSET', KEYS[3], qpos, user .. '|queued|')
addBuyJob(ARGV[5] .. qpos, '{"u":"' .. user .. '","q":' .. qpos .. '}', nowMs, ARGV[10])
local drained = tonumber(redis.call('GET', KEYS[10]) or '0')
if qpos - 1 <= drained then
  redis.call('PUBLISH', ARGV[4], 'j')
end
return { 1, qpos, qpos - drained, '' }
