--[[
  Confirms sold-out answers an ingress would give from its memory of a sold-out sale, for a batch
  of buyers of one shard: a buyer is answered sold_out only once this records them as turned away
  (as the gate does) while the shard's gate is closed. So the memory is never the last word: a
  sale reopened since (a unit came back) confirms nobody, and those buyers go through admission;
  and a buyer told sold_out by one ingress is already written down when any other asks Redis.

  Input:
    KEYS[1]   closed    flag  set while the shard's gate is closed (the event sold out)
    KEYS[2]   rejected  set   users answered sold_out
    KEYS[3]   holders   hash  user -> queue position of the user's ticket
    KEYS[4]   banned    set   users an admin banned

    ARGV[1..] userIds   user ids

  Output: one number per user, in order: 1 recorded as turned away (answer sold_out), 0 not
  confirmed (the gate is open, or the user holds a ticket or is banned): admission answers them
]]
local out = {}
local closed = redis.call('EXISTS', KEYS[1]) == 1
for i = 1, #ARGV do
  local user = ARGV[i]
  if closed and redis.call('HEXISTS', KEYS[3], user) == 0 and redis.call('SISMEMBER', KEYS[4], user) == 0 then
    redis.call('SADD', KEYS[2], user)
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
