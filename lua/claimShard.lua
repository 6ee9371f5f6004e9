--[[
  A rebuild of an event claims each of its shards before it reads what the surviving shards hold:
  from then on only it may warm the shard (lua/warmShard compares the fence exactly). A rebuild
  that lost its lock in MySQL and wakes up late finds a newer claim and warms nothing; one that
  claims after it finds the shards it warmed as surviving shards and counts them.

  Input:
    KEYS[1] rebuildFence  int  fence of the newest rebuild that claimed the shard

    ARGV[1] fence         the caller's rebuild fence (seckill_events.rebuild_fence, taken under
                          the row lock)

  Output: 1 claimed, 0 a newer rebuild claimed the shard already
]]
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current > tonumber(ARGV[1]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
