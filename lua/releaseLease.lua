--[[
  Give up a shard lease held by the caller, so another worker takes the shard at once.

  Input:
    KEYS[1] lease  str  token of the owner
    ARGV[1] token  caller's token
  Output: 1 released, 0 not the caller's lease
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
