--[[
  Admit one buyer to one event shard: rate limit, ban, dedupe, gate, queue position, and the
  ticket's job in the shard's BullMQ queue. One round trip: a ticket is never admitted without its
  job, and the buyer's rate limit costs no call of its own.

  The buyer's buys of the event are counted first, in fixed windows of ARGV[9] ms aligned on the
  clock (one hash per window, expiring after the next window); past ARGV[8] in a window the call
  answers -4 with the time left in the window and changes nothing else. A buyer's repeated buys
  return one ticket anyway, so the limit only bounds how hard one buyer can press on the shard.

  A banned buyer is refused before anything else (the ban is copied into every shard of the live
  events when it is made, and into a shard when it is warmed).
  A buyer who already holds a ticket for the shard gets it back (idempotent resubmit). Otherwise,
  when the shard is closed (event sold out) or its admitted-but-undecided tickets have reached the
  gate -- ceil(overbook x (own unreserved stock + free units last seen at sibling shards)) -- the
  buyer is answered sold_out and remembered as such. Otherwise, for a sale that requires a buy
  token, the buyer's token is checked and used up (single use), and the buyer gets the next queue
  position and a ticket in status queued, and its job is added to the shard's BullMQ queue.

  A sale that needs a proof of work (ARGV[12]) spends the buyer's proof on the answer it buys, just
  before anything is written for it: a place in line, or sold_out at the gate. A gate rejection
  spends it too, so a bot cannot probe the gate for free with one proof; a refusal that changes
  nothing (rate limit, ban, a wrong buy token, shard not warmed or moved) leaves it unspent, and
  a buyer who holds a ticket or was turned away before hears that answer again with any proof or
  none (I7: a resubmit gets the same answer). A sale without proof of work pays nothing (ARGV[12]
  "-" returns at once).

  The job is written exactly as BullMQ's own `add` (addStandardJob) writes a job with a custom id
  and no options: the job hash, the `id` counter, the `added` and `waiting` events, the id pushed on
  the left of `wait`, the `marker` unless the queue is paused or at its concurrency, and the
  queue's `meta` on first use. test/lua/admit-job-layout.test.ts compares the two key by key, so a
  BullMQ release that changes its layout fails there first. BullMQ's tools read the jobs as theirs;
  lua/takeJobs takes them in the order they were added, which is queue-position order.

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
    KEYS[22] proofs         key prefix of spent proofs of work: a proof's key is this prefix
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

  Output: { code, queue position (for -4: ms left in the window), position in line, ticket value }
     1  queued now (the job is in the queue)
     2  the buyer's existing ticket (value is "user|status|detail")
     3  sold out, answered now
     4  sold out, answered before
    -1  shard not warmed (no stock key)
    -2  the sale requires a buy token and the buyer's is missing, wrong, used or expired
    -3  the buyer is banned
    -4  the buyer's buys in this window are spent
    -5  the shard is on another node than the one it was warmed on: a replica took over from a
        failed master, and the last writes before the failure may not have reached it, so queue
        positions could be handed out twice. Nothing is done; the caller resets the shard
        (lua/resetMovedShard), which is then rebuilt from MySQL like a shard Redis lost.
    -6  the sale needs a proof of work and the buyer, who holds no ticket, sent none
    -7  the buyer's proof of work is past its expiry
    -8  the buyer's proof of work was spent by an earlier buy
    -10 the buyer's proof of work was refused by the ingress (ARGV[12] "!"), and the buyer holds no
        ticket and was not turned away before
]]
--@include "addBuyJob.lua"
--@include "spendProof.lua"

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

-- A buyer turned away before hears it again with no proof, like a ticket holder (I7).
if redis.call('SISMEMBER', KEYS[2], user) == 1 then
  return { 4, 0, 0, '' }
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
  local proofRefused = spendProof(KEYS[22], ARGV[12], ARGV[13], nowMs)
  if proofRefused ~= 0 then
    return { proofRefused, 0, 0, '' }
  end
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
end

local proofRefused = spendProof(KEYS[22], ARGV[12], ARGV[13], nowMs)
if proofRefused ~= 0 then
  return { proofRefused, 0, 0, '' }
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
