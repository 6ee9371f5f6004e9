--[[
  Replace the caller's provisional shard lease with its final token (the one carrying the fencing
  token MySQL handed out meanwhile), keeping it for the lease time. Nothing happens when the
  provisional lease is no longer the caller's (it expired while MySQL was slow).

  Input:
    KEYS[1] lease        str  token of the owner
    ARGV[1] provisional  provisional token
    ARGV[2] token        final token
    ARGV[3] ms           lease time in milliseconds
  Output: 1 swapped, 0 not the caller's lease
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
