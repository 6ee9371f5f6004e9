--[[
  The owner's step for a sale that keeps a waitlist, run between its batches (src/stock/
  return-applier.ts): apply one unit that came back, if any (as lua/applyReturn does), then serve
  the shard's waitlist with the unreserved units, in waitlist order. Fenced by the shard lease.

  Nothing is applied or served before the waitlist has indexed every decided ticket (code 2).
  A buyer banned while waiting is dropped from the list when they reach its head, never served.
  A buyer is served only when every ticket that arrived before them is decided (their arrival key
  is at most the highest decided position): those tickets are ahead in line and take the units
  first, in FIFO order. A served buyer gets a new queue position, a ticket in status queued with
  the unit already reserved for it (lua/reserveStock answers "reserved before", so no sibling,
  newcomer or later batch can take it), and its job in the shard's queue; the drain then writes its
  order as for any winner. A new FIFO epoch starts at the highest decided position whenever a unit
  came back or a buyer was served (lua/includes/startEpochAt.lua). After the sale's end nobody is
  served: the unit stays in the stock.

  Input:
    KEYS[1]  lease          str   token of the shard's owner
    KEYS[2]  reserved       hash  ticket id -> "1"
    KEYS[3]  stock          int   unreserved units of the shard
    KEYS[4]  closed         flag  set when the event sold out
    KEYS[5]  rejectedAt     int   qseq at the first gate rejection of the current epoch
    KEYS[6]  epochs         list  "<drained at reopen>:<rejected-at or empty>" per reopen
    KEYS[7]  drained        int   highest queue position decided
    KEYS[8]  returnsGen     int   units returned here so far
    KEYS[9]  holders        hash  user -> queue position
    KEYS[10] tickets        hash  queue position -> "user|status|detail"
    KEYS[11] qseq           int   last queue position handed out
    KEYS[12] rejected       set   users answered sold_out at the gate
    KEYS[13] wait           list  BullMQ: job ids waiting (as lua/admitBuyer)
    KEYS[14] active         list  BullMQ: job ids taken by the owner
    KEYS[15] meta           hash  BullMQ: the queue's settings
    KEYS[16] id             int   BullMQ: jobs added so far
    KEYS[17] events         stream BullMQ: the queue's events
    KEYS[18] marker         zset  BullMQ: tells blocked workers a job is ready
    KEYS[19] jobPrefix      key prefix of BullMQ's job hashes (same hash tag)
    KEYS[20] waitlist       zset  "<seq>:<user>" by arrival key
    KEYS[21] waitlistUsers  hash  user -> member
    KEYS[22] waitlistSeq    int   members made so far
    KEYS[23] waitlistCursor int   positions looked at for tickets that lost
    KEYS[24] waitlistLeft   set   users who left the waitlist
    KEYS[25] waitlistServed list  "<arrival key>:<user>:<new queue position>" per buyer served
    KEYS[26] banned         set   users an admin banned: dropped from the waitlist, never served
    KEYS[27] lostBelow      int   positions handed out before Redis lost the shard: none exist below it

    ARGV[1]  leaseToken     lease token of the caller
    ARGV[2]  ticketId       ticket id whose unit comes back, or "" to serve only
    ARGV[3]  endMs          the sale's end, ms since the epoch (Redis's clock decides)
    ARGV[4]  wake           the shard's wake channel (a served ticket wakes an idle drain: "j")
    ARGV[5]  ticketPrefix   ticket id prefix of the shard ("<event>-<shard>-")
    ARGV[6]  bullmqVersion  BullMQ's meta version (as lua/admitBuyer)
    ARGV[7]  eventsMaxLen   length of the queue's event stream (as lua/admitBuyer)

  Output: { code, served, waiting } with code 1 the unit came back now, 0 nothing held for it (or
  no ticket given), 2 nothing done but indexing: more than one look's worth of decided tickets
  (lua/includes/waitlist.lua, MAX_LOOK) is not on the list yet, so the unit is not put back (the
  drain would give it to its next position, past runners-up not yet listed): call again, each
  call indexes the next MAX_LOOK; -1 the lease is not the caller's. served: buyers served now;
  waiting: 1 when units are free but the waitlist's first buyer waits for tickets ahead to be
  decided (look again).
]]
--@include "startEpochAt.lua"
--@include "addBuyJob.lua"
--@include "waitlist.lua"

if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return { -1, 0, 0 }
end
-- The decided tickets first: until every one that lost is on the list, the list's head is not
-- known, and a unit put back in the stock now would go to the drain's next position instead.
local w = { list = KEYS[20], users = KEYS[21], seq = KEYS[22], cursor = KEYS[23], left = KEYS[24], lostBelow = KEYS[27] }
local caughtUp = indexWaitlist(w, KEYS[10], KEYS[9], KEYS[7])
if not caughtUp then
  return { 2, 0, 1 }
end
local code = 0
if ARGV[2] ~= '' and redis.call('HDEL', KEYS[2], ARGV[2]) == 1 then
  redis.call('INCR', KEYS[3])
  redis.call('INCR', KEYS[8])
  code = 1
end

local clock = redis.call('TIME')
local nowMs = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local drained = tonumber(redis.call('GET', KEYS[7]) or '0')
local served = 0
local waiting = 0
if nowMs < tonumber(ARGV[3]) then
  while tonumber(redis.call('GET', KEYS[3]) or '0') > 0 do
    local head = redis.call('ZRANGE', KEYS[20], 0, 0, 'WITHSCORES')
    if #head == 0 then break end
    if tonumber(head[2]) > drained then
      waiting = 1
      break
    end
    local user = string.match(head[1], ':(.*)$')
    redis.call('ZREM', KEYS[20], head[1])
    redis.call('HDEL', KEYS[21], user)
    -- Banned while waiting: off the list, and the unit goes to the next buyer.
    if redis.call('SISMEMBER', KEYS[26], user) == 0 then
      redis.call('SREM', KEYS[12], user)
      local qpos = redis.call('INCR', KEYS[11])
      redis.call('HSET', KEYS[9], user, qpos)
      redis.call('HSET', KEYS[10], qpos, user .. '|queued|')
      redis.call('DECR', KEYS[3])
      redis.call('HSET', KEYS[2], ARGV[5] .. qpos, '1')
      addBuyJob(ARGV[5] .. qpos, '{"u":"' .. user .. '","q":' .. qpos .. '}', nowMs, '')
      redis.call('RPUSH', KEYS[25], head[2] .. ':' .. user .. ':' .. qpos)
      served = served + 1
    end
  end
end
if code == 1 or served > 0 then
  startEpochAt(KEYS[6], KEYS[4], KEYS[5], drained)
end
if served > 0 then
  redis.call('PUBLISH', ARGV[4], 'j')
end
return { code, served, waiting }
