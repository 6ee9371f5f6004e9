--[[
  Give back units reserved for tickets that will not get an order. Once per ticket: a ticket whose
  unit was already released changes nothing.

  Input:
    KEYS[1]   stock      int   unreserved units of the shard holding the units
    KEYS[2]   reserved   hash  ticket id -> "1"
    ARGV[1..] ticketIds  ticket ids

  Output: number of units given back
]]
local n = 0
for i = 1, #ARGV do
  n = n + redis.call('HDEL', KEYS[2], ARGV[i])
end
if n > 0 then
  redis.call('INCRBY', KEYS[1], n)
end
return n
