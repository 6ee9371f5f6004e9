--[[
  A shard's reserve stage borrowed units from siblings. If a lender got units back since this
  shard last looked (its returns-gen grew), the borrowed unit may be one that came back, so this
  shard starts a new FIFO epoch after `boundary` (the position before the batch: every position up
  to it was reserved before, without that unit) and its gate reopens. Run by the shard's owner in
  its reserve stage, which runs in batch order; fenced by the shard lease.

  Also when no lender is newer but the last epoch boundary lies above `boundary`: a run that never
  finished (its owner lost the shard) saw the lender's returns grow and put the boundary after a
  position that was undecided then and borrows now, maybe a unit that came back; the boundary is
  cut down to `boundary` (simulation seed 31867: position 3, replayed, won a returned unit in
  the epoch where 2 had lost, under the boundary the cut-short run had put at 3).

  Input:
    KEYS[1]   lease       str   token of the shard's owner
    KEYS[2]   lenderGens  hash  sibling -> its returns-gen when last looked at
    KEYS[3]   epochs      list  "<decided up to>:<rejected-at or empty>" per epoch
    KEYS[4]   closed      flag  set when the event sold out
    KEYS[5]   rejectedAt  int   qseq at the first gate rejection of the current epoch

    ARGV[1]   leaseToken  lease token of the caller
    ARGV[2]   boundary    the last queue position of the old epoch
    ARGV[3..] lenderGens  pairs: lender shard, its returns-gen read after the borrow

  Output: 1 a new epoch started, 0 nothing new, -1 the lease is not the caller's.
]]
--@include "startEpochAt.lua"

if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
local newer = false
for i = 3, #ARGV, 2 do
  local seen = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0')
  if tonumber(ARGV[i + 1]) > seen then
    newer = true
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
if not newer then
  local last = redis.call('LINDEX', KEYS[3], -1)
  local upTo = last and tonumber(string.match(last, '^([^:]*):'))
  if not upTo or upTo <= tonumber(ARGV[2]) then
    return 0
  end
end
startEpochAt(KEYS[3], KEYS[4], KEYS[5], tonumber(ARGV[2]))
return 1
