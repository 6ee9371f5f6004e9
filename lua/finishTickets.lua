--[[
  Write the outcome of a drained batch: each ticket still queued becomes final, the FIFO mark
  advances, and one message tells waiting pollers which tickets changed and how, so they answer
  without reading the ticket again. Once per ticket: a ticket already final keeps its outcome.
  Fenced by the shard lease.

  Input:
    KEYS[1]   tickets     hash  queue position -> "user|status|detail"
    KEYS[2]   pending     int   admitted tickets not yet decided
    KEYS[3]   drained     int   highest queue position decided
    KEYS[4]   lease       str   token of the shard's owner
    KEYS[5]   stock       int   unreserved units of the shard
    KEYS[6]   rate        str   drain rate (tickets per second), for ETAs

    ARGV[1]   leaseToken  lease token of the caller
    ARGV[2]   channel     outcome channel
    ARGV[3]   shardLabel  shard label for the message ("e<event>.<shard>")
    ARGV[4]   drainRate   drain rate to record ("" keeps the last one)
    ARGV[5..] decisions   groups of four: queue position, status, detail, "1" when the ticket
                          still counts in pending (it was not reserved in this shard's own stock)

  Message on the channel: "<shard label>:<qpos>=<status>[/<detail>],..." for the tickets changed.

  Output: { code, stock, pending, tickets changed } with code 0, or { -1 } when the lease is not
  the caller's.
]]
if redis.call('GET', KEYS[4]) ~= ARGV[1] then
  return { -1 }
end

local decided = 0
local changed = {}
local last = tonumber(redis.call('GET', KEYS[3]) or '0')
for i = 5, #ARGV, 4 do
  local qpos = ARGV[i]
  local value = redis.call('HGET', KEYS[1], qpos)
  if value then
    local user, status = string.match(value, '^([^|]*)|([^|]*)|')
    if status == 'queued' then
      redis.call('HSET', KEYS[1], qpos, user .. '|' .. ARGV[i + 1] .. '|' .. ARGV[i + 2])
      if ARGV[i + 3] == '1' then decided = decided + 1 end
      if ARGV[i + 2] == '' then
        changed[#changed + 1] = qpos .. '=' .. ARGV[i + 1]
      else
        changed[#changed + 1] = qpos .. '=' .. ARGV[i + 1] .. '/' .. ARGV[i + 2]
      end
    end
  end
  local n = tonumber(qpos)
  if n > last then last = n end
end

if decided > 0 then
  redis.call('DECRBY', KEYS[2], decided)
end
redis.call('SET', KEYS[3], last)
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[6], ARGV[4])
end
if #changed > 0 then
  redis.call('PUBLISH', ARGV[2], ARGV[3] .. ':' .. table.concat(changed, ','))
end
return { 0, tonumber(redis.call('GET', KEYS[5]) or '0'), tonumber(redis.call('GET', KEYS[2]) or '0'), #changed }
