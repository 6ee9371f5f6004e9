--[[
  Forget a shard whose Redis Cluster node changed since it was warmed: a replica took over from a
  failed master. Replication is asynchronous, so the replica may lack the master's last writes
  (tickets admitted, units reserved, outcomes written): its copy of the shard is an older state,
  and handing out queue positions from it could give one ticket id to two buyers. Every key of the
  shard is deleted here, at once; the next warm-up (any process's) then rebuilds the shard from
  MySQL as it does after Redis lost it (src/stock/sale-state.ts warmEvent): the event's shards are
  fenced, units recounted from the orders, queue positions restarted past any handed out before,
  and tickets whose state is gone read `failed` (`lost_in_redis`) -- their buyers can buy again.

  Idempotent: two processes that notice the same failover delete once; the second finds the shard
  gone (or already rebuilt on the new node).

  Input:
    KEYS[1]  node            str  the node the shard was warmed on (lua/warmShard)
    KEYS[2]  stock           int  (missing: the shard is not warm, nothing to forget)
    KEYS[3]  pending              then every other key of the shard (src/redis/keys.ts
    KEYS[4]  qseq                 allShardKeys), all deleted when the shard moved
    KEYS[5]  drained
    KEYS[6]  holders
    KEYS[7]  rejected
    KEYS[8]  tickets
    KEYS[9]  reserved
    KEYS[10] peers
    KEYS[11] closed
    KEYS[12] rejectedAt
    KEYS[13] epochs
    KEYS[14] rate
    KEYS[15] buyTokens
    KEYS[16] banned
    KEYS[17] lease
    KEYS[18] lostBelow
    KEYS[19] returnsDue
    KEYS[20] returnsGen
    KEYS[21] lenderGens
    KEYS[22] reservedUpTo
    KEYS[23] borrowerFences
    KEYS[24] rebuildFence
    KEYS[25] entrants
    KEYS[26] startSeal
    KEYS[27] startPlaced
    KEYS[28] startOrder

  Output:
    0  nothing to do: not a cluster, the shard is not warm, or it is on the node it was warmed on
       (a shard warmed before nodes were recorded has it recorded now)
    1  the shard was on another node: all its keys were deleted
]]
local me = redis.pcall('CLUSTER', 'MYID')
if type(me) ~= 'string' then
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
local seen = redis.call('GET', KEYS[1])
if not seen then
  redis.call('SET', KEYS[1], me)
  return 0
end
if seen == me then
  return 0
end
redis.call('DEL', unpack(KEYS))
return 1
