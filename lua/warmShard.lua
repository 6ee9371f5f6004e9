--[[
  Put a shard's stock into Redis, once. A shard already warm is left alone, so warm-up may run
  from every process at every start. A shard rebuilt after Redis lost it starts its queue
  positions after any that may have been handed out before the loss, so no ticket id is ever
  handed out twice, and it remembers that floor: a ticket at or under it whose state is gone was
  lost with Redis (its reader answers `failed`, not "not found").

  Only the rebuild whose fence claimed the shard last may warm it (lua/claimShard): a rebuild
  that stalled and lost its lock in MySQL changes nothing. The units held for live orders are
  marked in the same call, so no reader sees the stock without them.

  Input:
    KEYS[1]   stock             int
    KEYS[2]   pending           int
    KEYS[3]   qseq              int
    KEYS[4]   drained           int
    KEYS[5]   peers             hash  sibling shard -> free units
    KEYS[6]   lostBelow         int   positions handed out before the loss
    KEYS[7]   node              str   on a Redis Cluster, the id of the node that holds the shard
                                      (CLUSTER MYID): a replica promoted in its place has another
                                      id, so a later look (lua/admitBuyer, lua/resetMovedShard)
                                      finds out the shard moved
    KEYS[8]   rebuildFence      int   fence of the newest rebuild that claimed the shard
    KEYS[9]   reserved          hash  ticket id -> "1": units held for live orders
    KEYS[10]  returnsGen        int   units returned here so far (set past the floor on a rebuild)

    ARGV[1]   units             units of the shard
    ARGV[2]   firstMark         first FIFO mark: 0 for a new sale, else the highest queue position
                                with an order
    ARGV[3]   floor             first queue position floor: 0 for a first warm-up, else past any
                                position handed out before the loss (>= ARGV[2])
    ARGV[4]   fence             the caller's rebuild fence
    ARGV[5]   siblingCount      n: number of sibling pairs that begin the tail
    ARGV[6..] siblingsThenHeld  n pairs, sibling shard and its units (ARGV[6 .. 5+2n]), then the
                                ticket ids of live orders whose unit this shard holds

  Output: 1 warmed now, 0 warm already, -1 fenced out (a newer rebuild claimed the shard)
]]
if tonumber(redis.call('GET', KEYS[8]) or '-1') ~= tonumber(ARGV[4]) then
  return -1
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local first = math.max(tonumber(ARGV[2]), tonumber(ARGV[3]))
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], 0)
redis.call('SET', KEYS[3], first)
redis.call('SET', KEYS[4], first)
redis.call('DEL', KEYS[5], KEYS[9])
local n = tonumber(ARGV[5])
for i = 6, 5 + 2 * n, 2 do
  redis.call('HSET', KEYS[5], ARGV[i], ARGV[i + 1])
end
for i = 6 + 2 * n, #ARGV do
  redis.call('HSET', KEYS[9], ARGV[i], '1')
end
if tonumber(ARGV[3]) > 0 then
  -- Units a rebuilt shard can lend may be ones its lost tickets had been promised: for borrowers
  -- this is like units coming back, so its returns-gen moves past any value seen before.
  redis.call('SET', KEYS[10], ARGV[3])
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
