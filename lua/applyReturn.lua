--[[
  Apply one unit that came back to the sale (a row of MySQL's unit_returns) to the shard holding
  it, run by the shard's owner between its batches. The unit is released once: the ticket's
  reservation is forgotten as its unit goes back to the stock, so applying the same return again
  changes nothing. A new FIFO epoch starts at the highest decided position (no batch is in flight
  when the owner calls this), and the shard's gate reopens: buyers turned away before keep their
  answer, and the unit goes to a buyer admitted from now on. Fenced by the shard lease.

  The caller applies a return only once the ticket is final (a ticket still queued belongs to a
  batch that may be replayed, which must find its unit still reserved).

  Input:
    KEYS[1] lease       str   token of the shard's owner
    KEYS[2] reserved    hash  ticket id -> "1"
    KEYS[3] stock       int   unreserved units of the shard
    KEYS[4] closed      flag  set when the event sold out
    KEYS[5] rejectedAt  int   qseq at the first gate rejection of the current epoch
    KEYS[6] epochs      list  "<drained at reopen>:<rejected-at or empty>" per reopen
    KEYS[7] drained     int   highest queue position decided
    KEYS[8] returnsGen  int   units returned here so far: a sibling that borrows after it grew
                              starts a new epoch of its own (lua/startEpoch)

    ARGV[1] leaseToken  lease token of the caller
    ARGV[2] ticketId    ticket id whose unit comes back

  Output: 1 returned now, 0 nothing held for it (returned before, or lost with Redis and rebuilt
  from MySQL, which counts it already), -1 the lease is not the caller's.
]]
--@include "startEpochAt.lua"

if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
if redis.call('HDEL', KEYS[2], ARGV[2]) == 0 then
  return 0
end
redis.call('INCR', KEYS[3])
redis.call('INCR', KEYS[8])
startEpochAt(KEYS[6], KEYS[4], KEYS[5], tonumber(redis.call('GET', KEYS[7]) or '0'))
return 1
