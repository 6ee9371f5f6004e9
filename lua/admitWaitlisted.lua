--[[
  Admit one buyer to a shard of a sale that keeps a waitlist (src/sale/allocation/waitlist.ts): the
  same as lua/admitBuyer -- rate limit, ban, dedupe, gate, queue position and the ticket's job, one
  round trip -- but a buyer turned away joins the shard's waitlist, in arrival order, and newcomers
  do not pass anyone on it: while the waitlist holds a buyer, the gate turns newcomers away too
  (they join behind), so a unit that comes back goes to the waitlist first (lua/serveWaitlist).

  A turned-away buyer's arrival key is the queue position last handed out; tickets that lost in the
  drain join at their position - 0.5 when anyone looks (lua/includes/waitlist.lua), so the list is
  in arrival order whichever way a buyer was turned away. When the shard still has unreserved
  units as a buyer joins, the owner is asked to look (the returns signal and the wake channel): it
  serves the waitlist with them once the tickets ahead are decided.

  A proof of work (ARGV[12]) is spent as in lua/admitBuyer: on the answer it buys (a place in line
  or on the waitlist), after the refusals that change nothing (rate limit, ban, buy token) and
  after the answers a buyer hears again with any proof or none (their ticket, their place on the
  waitlist: I7).

  Input:
    KEYS[1]  holders        hash    user -> queue position
    KEYS[2]  rejected       set     users answered sold_out at the gate
    KEYS[3]  tickets        hash    queue position -> "user|status|detail"
    KEYS[4]  qseq           int     last queue position handed out
    KEYS[5]  stock          int     unreserved units of the shard (missing = shard not warmed)
    KEYS[6]  pending        int     admitted tickets not yet decided
    KEYS[7]  peers          hash    sibling shard -> free units last seen there
    KEYS[8]  closed         flag    event sold out
    KEYS[9]  rejectedAt     int     qseq at the first gate rejection (set once)
    KEYS[10] drained        int     highest queue position decided
    KEYS[11] buyTokens      hash    user -> "<token>:<expires at, ms>"
    KEYS[12] banned         set     users an admin banned
    KEYS[13] wait           list    BullMQ: job ids waiting (new ones pushed on the left)
    KEYS[14] active         list    BullMQ: job ids taken by the shard's owner (read for
                                    `concurrency`)
    KEYS[15] meta           hash    BullMQ: the queue's settings (`opts.maxLenEvents`, `paused`, ...)
    KEYS[16] id             int     BullMQ: jobs added so far
    KEYS[17] events         stream  BullMQ: the queue's events
    KEYS[18] marker         zset    BullMQ: tells blocked workers a job is ready
    KEYS[19] jobPrefix      key prefix of BullMQ's job hashes: a job's hash is this prefix
                            followed by its id (same hash tag, so the same cluster slot)
    KEYS[20] buyRate        key prefix of the rate-limit windows: hash user -> buys in the window
                            whose number (clock ms / ARGV[9]) follows the prefix (same hash tag)
    KEYS[21] node           str     on a Redis Cluster, the id of the node the shard was warmed on
                                    (or first seen on) (lua/warmShard)
    KEYS[22] waitlist       zset    "<seq>:<user>" by arrival key
    KEYS[23] waitlistUsers  hash    user -> member
    KEYS[24] waitlistSeq    int     members made so far
    KEYS[25] waitlistCursor int     positions looked at for tickets that lost
    KEYS[26] waitlistLeft   set     users who left the waitlist
    KEYS[27] returnsDue     zset    the shard's returns signal (the owner looks between batches)
    KEYS[28] lostBelow      int   positions handed out before Redis lost the shard: none exist below it
    KEYS[29] proofs         key prefix of spent proofs of work: a proof's key is this prefix
                                    followed by its id (same hash tag), set until it expires

    ARGV[1]  userId         the buyer
    ARGV[2]  overbook       overbook factor (>= 1)
    ARGV[3]  buyToken       the buyer's buy token, "" when none was given, "-" when the sale
                            requires none
    ARGV[4]  wake           the shard's wake channel: a ticket admitted when every earlier one is
                            decided is published there ("j"), since the shard's drain may be idle
                            (it then waits on one subscriber connection per worker rather than a
                            blocking command of its own)
    ARGV[5]  ticketPrefix   ticket id prefix of the shard ("<event>-<shard>-"); the ticket id, and
                            its job's id, is this prefix followed by the queue position
    ARGV[6]  bullmqVersion  BullMQ's `meta` version field ("bullmq:<version>"), written with the
                            queue's settings the first time a job is added
    ARGV[7]  eventsMaxLen   length the queue's event stream is kept near, set in `meta` on first
                            use (BullMQ's `streams.events.maxLen`)
    ARGV[8]  rateMax        buys a buyer may make in one window
    ARGV[9]  rateWindowMs   rate-limit window, ms
    ARGV[10] traceParent    the buy's trace context (W3C traceparent) when it is traced and
                            sampled, else "": kept in the job's hash as field `tp` (BullMQ ignores
                            fields it does not know), so the drain batch that decides the ticket
                            links its span to the buy's trace
    ARGV[11] cluster        "1" on a Redis Cluster: the shard's node is checked first (answer -5
                            when it moved; skipped when the Redis user may not run CLUSTER MYID)
    ARGV[12] proof          the buyer's proof of work for a sale that needs one: its id, checked
                            by the ingress; "" when none was sent, "!" when the ingress refused it
                            (invalid), "-" when the sale needs none
                            (lua/includes/spendProof.lua)
    ARGV[13] proofExpiresAt the proof's expiry, ms on Redis's clock (0 without a proof)

  Output: as lua/admitBuyer; for 3 and 4 (sold out) the third value is the buyer's place on the
  waitlist (1 = next; 0 when not on it: the buyer left it).
]]
--@include "waitlist.lua"
--@include "addBuyJob.lua"
--@include "spendProof.lua"

local w = { list = KEYS[22], users = KEYS[23], seq = KEYS[24], cursor = KEYS[25], left = KEYS[26], lostBelow = KEYS[28] }

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

local caughtUp = indexWaitlist(w, KEYS[3], KEYS[1], KEYS[10])

if redis.call('SISMEMBER', KEYS[2], user) == 1 then
  return { 4, 0, waitlistPlace(w, user), '' }
end

-- A sale that needs a buy token needs it to join the waitlist too (it is used up only by a place
-- in line), so a bot without one cannot fill the list.
if ARGV[3] ~= '-' then
  local token = redis.call('HGET', KEYS[11], user)
  if not token then
    return { -2, 0, 0, '' }
  end
  local sep = string.find(token, ':', 1, true)
  if string.sub(token, 1, sep - 1) ~= ARGV[3] or tonumber(string.sub(token, sep + 1)) < nowMs then
    return { -2, 0, 0, '' }
  end
end

-- The answer below (a place in line, or the waitlist) is what a proof of work pays for: spent now,
-- after every refusal that changes nothing and the answers a buyer hears again for free (I7).
local proofRefused = spendProof(KEYS[29], ARGV[12], ARGV[13], nowMs)
if proofRefused ~= 0 then
  return { proofRefused, 0, 0, '' }
end

-- Nobody passes a buyer on the waitlist, nor one who lost in the drain and is not looked at yet
-- (the look stopped at its bound): the newcomer joins behind them.
local reject = redis.call('EXISTS', KEYS[8]) == 1 or redis.call('ZCARD', KEYS[22]) > 0 or not caughtUp
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
  local seen = redis.call('GET', KEYS[4]) or '0'
  redis.call('SADD', KEYS[2], user)
  redis.call('SET', KEYS[9], seen, 'NX')
  joinWaitlist(KEYS[22], KEYS[23], KEYS[24], user, tonumber(seen))
  if tonumber(stock) > 0 then
    -- Units are free here: the owner serves the waitlist once the tickets ahead are decided.
    redis.call('ZADD', KEYS[27], 0, 'due')
    redis.call('PUBLISH', ARGV[4], 'r')
  end
  return { 3, 0, waitlistPlace(w, user), '' }
end

if ARGV[3] ~= '-' then
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
