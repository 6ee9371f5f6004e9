--[[
  Record a sibling shard's current fencing number in this shard, so lua/borrowStock refuses that
  sibling's former owners. Called by whoever takes a sibling's lease (before its first batch) and
  by a rebuild, which raises every shard's number. Numbers only grow.

  Input:
    KEYS[1] borrowerFences  hash  sibling shard -> fencing number of its current owner
    ARGV[1] shard           the sibling shard
    ARGV[2] fence           its fencing number
  Output: the number recorded now
]]
local now = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local given = tonumber(ARGV[2])
if given > now then
  redis.call('HSET', KEYS[1], ARGV[1], given)
  return given
end
return now
