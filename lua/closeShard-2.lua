--[[
  Close a shard's gate once its event is sold out, so every later buyer is answered sold_out and
  the set of ticket holders is final. Refused while the shard still has an unreserved unit (a
  unit came back after the caller looked).

  Input:
    KEYS[1] stock   int
    KEYS[2] closed  flag
  Output: 1 closed, 0 refused (units left)
]]
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then
  return 0
end
redis.call('SET', KEYS[2], '1')
return 1
