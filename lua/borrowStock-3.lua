--[[
  Let tickets of a sibling shard borrow this shard's free units (stock not promised to this
  shard's own admitted tickets), so a dry shard never turns buyers away while units sit elsewhere.

  Idempotent per ticket: a ticket already holding a unit here is reported as such. With mode
  "check" nothing is taken; a drain checks every sibling before it takes anywhere, so a retried
  batch never holds units in two shards.

  Input:
    KEYS[1] stock     int   unreserved units of this shard
    KEYS[2] pending   int   this shard's admitted tickets not yet decided
    KEYS[3] reserved  hash  ticket id -> "1"

    ARGV[1] mode: "take" or "check"
    ARGV[2..] ticket ids of the borrowing shard, in FIFO order

  Output: { stock after, pending, r1, r2, ... } per ticket r:
    0  nothing for it here
    1  taken now
    2  held here before
]]
local stock = tonumber(redis.call('GET', KEYS[1]) or '0')
local pending = tonumber(redis.call('GET', KEYS[2]) or '0')
local free = stock - pending
local take = ARGV[1] == 'take'
local taken = 0
local out = { 0, pending }
for i = 2, #ARGV do
  local id = ARGV[i]
  local r = 0
  if redis.call('HEXISTS', KEYS[3], id) == 1 then
    r = 2
  elseif take and free > 0 then
    free = free - 1
    taken = taken + 1
    redis.call('HSET', KEYS[3], id, '1')
    r = 1
  end
  out[#out + 1] = r
end
if taken > 0 then
  redis.call('DECRBY', KEYS[1], taken)
end
out[1] = stock - taken
return out
