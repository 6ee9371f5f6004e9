--[[
  Extend a shard lease held by the caller.

  Input:
    KEYS[1] lease  str  token of the owner
    ARGV[1] token  caller's token
    ARGV[2] ms     lease time in milliseconds
  Output: 1 renewed, 0 not the caller's lease
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
