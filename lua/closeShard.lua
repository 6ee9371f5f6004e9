--[[
  Close a shard's gate once its event is sold out, so every later buyer is answered sold_out and
  the set of ticket holders is final. Only the shard's owner closes its gate (fenced by the
  lease): a gate is never closed from outside while its owner's batches are in flight. Refused
  while the shard still has an unreserved unit (a unit came back after the caller looked).

  Input:
    KEYS[1] lease       str   token of the shard's owner
    KEYS[2] stock       int
    KEYS[3] closed      flag

    ARGV[1] leaseToken  lease token of the caller

  Output: 1 closed, 0 refused (units left), -1 the lease is not the caller's
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then
  return 0
end
redis.call('SET', KEYS[3], '1')
return 1
