--[[
  Reserve units of a shard's own stock for a batch of its tickets, in the order given (FIFO).

  Idempotent per ticket: a ticket that already holds a unit here is reported, never served twice,
  so a retried batch reserves nothing more. Tickets already final are skipped. Fenced by the shard
  lease: a drain that lost its lease changes nothing.

  Input:
    KEYS[1]   stock           int   unreserved units of the shard
    KEYS[2]   pending         int   admitted tickets not yet decided
    KEYS[3]   reserved        hash  ticket id -> "1" for every unit held here
    KEYS[4]   lease           str   token of the shard's owner
    KEYS[5]   tickets         hash  queue position -> "user|status|detail"
    KEYS[6]   reservedUpTo    int   highest queue position that has been through a reservation

    ARGV[1]   leaseToken      lease token of the caller
    ARGV[2]   ticketIdPrefix  ticket id prefix of the shard ("<event>-<shard>-"); a ticket id is
                              prefix .. position
    ARGV[3..] qposes          queue positions, in FIFO order

  Output: { code, stock after, pending after, reserved-upto before, r1, user1, r2, user2, ... } with
  code 0, or { -1 } when the lease is not the caller's. A batch whose first position is at or under
  "reserved-upto before" is a replay: some of its tickets may have orders already. Per ticket, its
  buyer as stored ("" when unknown) and r:
    0  no unit left here (borrow from a sibling or lose)
    1  reserved now (pending decremented)
    2  reserved before (a replay)
    3  already final: nothing to do
    4  unknown ticket
]]
if redis.call('GET', KEYS[4]) ~= ARGV[1] then
  return { -1 }
end

local stock = tonumber(redis.call('GET', KEYS[1]) or '0')
local taken = 0
local upto = tonumber(redis.call('GET', KEYS[6]) or '0')
local out = { 0, 0, 0, upto }
for i = 3, #ARGV do
  local qpos = ARGV[i]
  local id = ARGV[2] .. qpos
  local value = redis.call('HGET', KEYS[5], qpos)
  local r
  local user = ''
  if not value then
    r = 4
  else
    user = string.match(value, '^[^|]*')
    if not string.find(value, '|queued|', 1, true) then
      r = 3
    elseif redis.call('HEXISTS', KEYS[3], id) == 1 then
      r = 2
    elseif stock > 0 then
      stock = stock - 1
      taken = taken + 1
      redis.call('HSET', KEYS[3], id, '1')
      r = 1
    else
      r = 0
    end
  end
  out[#out + 1] = r
  out[#out + 1] = user
end

if taken > 0 then
  redis.call('DECRBY', KEYS[1], taken)
  redis.call('DECRBY', KEYS[2], taken)
end
local last = tonumber(ARGV[#ARGV])
if #ARGV >= 3 and last > upto then
  redis.call('SET', KEYS[6], last)
end
out[2] = stock
out[3] = tonumber(redis.call('GET', KEYS[2]) or '0')
return out
