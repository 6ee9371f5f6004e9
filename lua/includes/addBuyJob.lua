-- Adds a buy job to the shard's BullMQ queue as BullMQ's addStandardJob does for a job with a
-- custom id and no options (FIFO, no delay, priority, parent or deduplication). Needs KEYS[13..19]
-- (wait .. jobPrefix) and ARGV[6..7] (bullmqVersion, eventsMaxLen) of lua/admitBuyer; `nowMs` is
-- the script's clock reading, the job's timestamp.
-- The id is new (a queue position is handed out once), so BullMQ's duplicate check is not needed.
-- `traceParent`, when not '', is stored as the job's field `tp` (BullMQ ignores fields it does not
-- know): the buy's trace context, for the drain batch that decides the ticket (src/tracing/).
local function addBuyJob (jobId, data, nowMs, traceParent)
  local meta = redis.call('HMGET', KEYS[15], 'opts.maxLenEvents', 'paused', 'concurrency')
  local maxEvents = meta[1]
  if not maxEvents then
    maxEvents = ARGV[7]
    redis.call('HSET', KEYS[15], 'opts.maxLenEvents', maxEvents, 'version', ARGV[6])
  end
  redis.call('INCR', KEYS[16])
  redis.call('HMSET', KEYS[19] .. jobId, 'name', 'buy', 'data', data,
    'opts', '{"jobId":"' .. jobId .. '","attempts":0}', 'timestamp', nowMs, 'delay', 0, 'priority', 0)
  if traceParent ~= '' then
    redis.call('HSET', KEYS[19] .. jobId, 'tp', traceParent)
  end
  redis.call('XADD', KEYS[17], '*', 'event', 'added', 'jobId', jobId, 'name', 'buy')
  redis.call('LPUSH', KEYS[13], jobId)
  local blocked = meta[2] or (meta[3] and redis.call('LLEN', KEYS[14]) >= tonumber(meta[3]))
  if not blocked then
    redis.call('ZADD', KEYS[18], 0, '0')
  end
  redis.call('XADD', KEYS[17], 'MAXLEN', '~', maxEvents, '*', 'event', 'waiting', 'jobId', jobId)
end
