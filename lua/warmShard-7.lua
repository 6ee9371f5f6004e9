--[[
  Put a shard's stock into Redis, once. A shard already warm is left alone, so warm-up may run
  from every process at every start. A shard rebuilt after Redis lost it starts its queue
  positions after any that may have been handed out before the loss, so no ticket id is ever
  handed out twice, and it remembers that floor: a ticket at or under it whose state is gone was
  lost with Redis (its reader answers `failed`, not "not found").

  Input:
    KEYS[1] stock       int
    KEYS[2] pending     int
    KEYS[3] qseq        int
    KEYS[4] drained     int
    KEYS[5] peers       hash  sibling shard -> free units
    KEYS[6] lost-below  int   positions handed out before the loss
    KEYS[7] node        str   on a Redis Cluster, the id of the node that holds the shard (CLUSTER
                              MYID): a replica promoted in its place has another id, so a later
                              look (lua/admitBuyer, lua/resetMovedShard) finds out the shard moved

    ARGV[1] units of the shard
    ARGV[2] first FIFO mark: 0 for a new sale, else the highest queue position with an order
    ARGV[3] first queue position floor: 0 for a first warm-up, else past any position handed out
            before the loss (>= ARGV[2])
    ARGV[4..] pairs: sibling shard, its units

  Output: 1 when warmed now, 0 when it was warm already
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local first = math.max(tonumber(ARGV[2]), tonumber(ARGV[3]))
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], 0)
redis.call('SET', KEYS[3], first)
redis.call('SET', KEYS[4], first)
redis.call('DEL', KEYS[5])
for i = 4, #ARGV, 2 do
  redis.call('HSET', KEYS[5], ARGV[i], ARGV[i + 1])
end
if first > 0 then
  redis.call('SET', KEYS[6], first)
end
-- Not a cluster: the call fails and nothing is recorded.
local me = redis.pcall('CLUSTER', 'MYID')
if type(me) == 'string' then
  redis.call('SET', KEYS[7], me)
end
return 1
