--[[
  Put a shard's stock into Redis, once. A shard already warm is left alone, so warm-up may run
  from every process at every start. A shard rebuilt after Redis lost it starts its queue
  positions after the highest one its orders use, so no ticket id is ever handed out twice.

  Input:
    KEYS[1] stock    int
    KEYS[2] pending  int
    KEYS[3] qseq     int
    KEYS[4] drained  int
    KEYS[5] peers    hash  sibling shard -> free units

    ARGV[1] units of the shard
    ARGV[2] first FIFO mark: 0 for a new sale, else the highest queue position with an order
    ARGV[3..] pairs: sibling shard, its units

  Output: 1 when warmed now, 0 when it was warm already
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], 0)
redis.call('SET', KEYS[3], ARGV[2])
redis.call('SET', KEYS[4], ARGV[2])
redis.call('DEL', KEYS[5])
for i = 3, #ARGV, 2 do
  redis.call('HSET', KEYS[5], ARGV[i], ARGV[i + 1])
end
return 1
