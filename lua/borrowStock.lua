--[[
  Let tickets of a sibling shard borrow this shard's free units (stock not promised to this
  shard's own admitted tickets), so a dry shard never turns buyers away while units sit elsewhere.

  Idempotent per ticket: a ticket already holding a unit here is reported as such. With mode
  "check" nothing is taken; a drain checks every sibling before it takes anywhere, so a retried
  batch never holds units in two shards.

  Fenced: the borrowing shard's lease lives in another hash slot, so each owner of a shard, when
  it takes the lease and before its first batch, records its fencing number here (lua/fenceBorrower).
  A borrower whose number is below the one recorded for its shard is a former owner that stalled
  and woke up late: it takes nothing (its successor may have decided the tickets already, and a
  unit it took would be held for nobody).

  A randomized start's entrants are this shard's buyers before they hold a position: until the
  entry list is sealed (after which `pending` counts them) they count as pending here, so their
  units are never lent to a sibling's buyer who came after the start, and the `pending` reported
  includes them (the borrower's hint to its gate, stock - pending, then says the same).

  Input:
    KEYS[1]   stock           int   unreserved units of this shard
    KEYS[2]   pending         int   this shard's admitted tickets not yet decided
    KEYS[3]   reserved        hash  ticket id -> "1"
    KEYS[4]   borrowerFences  hash  sibling shard -> fencing number of its current owner
    KEYS[5]   entrants        hash  randomized start: user -> entry id (empty otherwise)
    KEYS[6]   startSeal       str   randomized start: "<base>:<n>" once the entry list is sealed

    ARGV[1]   mode            "take" or "check"
    ARGV[2]   shard           the borrowing shard
    ARGV[3]   fence           the borrower's fencing number
    ARGV[4..] ticketIds       ticket ids of the borrowing shard, in FIFO order

  Output: { stock after, pending (entrants not sealed included), r1, r2, ... } per ticket r:
    0  nothing for it here
    1  taken now
    2  held here before
  or { -1 } when the borrower is not its shard's current owner.
]]
if tonumber(redis.call('HGET', KEYS[4], ARGV[2]) or '0') > tonumber(ARGV[3]) then
  return { -1 }
end
local stock = tonumber(redis.call('GET', KEYS[1]) or '0')
local pending = tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('EXISTS', KEYS[6]) == 0 then
  pending = pending + redis.call('HLEN', KEYS[5])
end
local free = stock - pending
local take = ARGV[1] == 'take'
local taken = 0
local out = { 0, pending }
for i = 4, #ARGV do
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
