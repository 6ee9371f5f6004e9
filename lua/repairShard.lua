--[[
  The reconciler's repair of one shard, made while it holds the shard's lease (it takes every
  lease of the event, like a new owner). Fenced: a reconciler that stalled past its lease, while a
  worker took the shard and reserved, changes nothing. Its numbers come from one reading of the
  shard (stock and reservations together) taken under the same lease.

  Input:
    KEYS[1]   lease         str   token of the shard's owner
    KEYS[2]   reserved      hash  ticket id -> "1"
    KEYS[3]   stock         int   unreserved units of the shard
    KEYS[4]   closed        flag  set when the event sold out
    KEYS[5]   rejectedAt    int   qseq at the first gate rejection of the current epoch
    KEYS[6]   epochs        list  "<drained at reopen>:<rejected-at or empty>" per reopen
    KEYS[7]   drained       int   highest queue position decided
    KEYS[8]   returnsGen    int   units returned here so far (siblings start an epoch when it
                                  grows)

    ARGV[1]   leaseToken    lease token of the caller
    ARGV[2]   delta         change of the unreserved stock (negative: units Redis had beyond
                            MySQL's)
    ARGV[3]   reopen        1: units came back to the sale, reopen the gate in a new FIFO epoch;
                            0: leave it
    ARGV[4]   markCount     n: number of ticket ids to mark held that begin the tail (live orders
                            whose mark was lost)
    ARGV[5..] markThenFree  those n ticket ids (ARGV[5 .. 4+n]), then the ticket ids whose
                            reservation goes (no live order holds it)

  Output: { 1, marked, freed } done; { -1, 0, 0 } the lease is not the caller's; { -2, 0, 0 } the
  stock would go below zero (the shard moved since it was read): nothing changed
]]
--@include "startEpochAt.lua"

if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return { -1, 0, 0 }
end
local delta = tonumber(ARGV[2])
if tonumber(redis.call('GET', KEYS[3]) or '0') + delta < 0 then
  return { -2, 0, 0 }
end
local n = tonumber(ARGV[4])
local marked = 0
for i = 5, 4 + n do
  marked = marked + redis.call('HSET', KEYS[2], ARGV[i], '1')
end
local freed = 0
for i = 5 + n, #ARGV do
  freed = freed + redis.call('HDEL', KEYS[2], ARGV[i])
end
if delta ~= 0 then
  redis.call('INCRBY', KEYS[3], delta)
end
if delta > 0 then
  redis.call('INCRBY', KEYS[8], delta)
end
if ARGV[3] == '1' then
  startEpochAt(KEYS[6], KEYS[4], KEYS[5], tonumber(redis.call('GET', KEYS[7]) or '0'))
end
return { 1, marked, freed }
