--[[
  Reserve a block of a rate limit's quota for one process: the process then admits that many
  requests of the key without asking Redis again. The counter counts reserved requests, so all
  processes together never admit more than `max` in a window; a process's unused block is lost at
  the window's end (a client spread over several processes may be refused a little early, never
  late).

  Input:
    KEYS[1] counter   int   requests reserved in the current window (expires with the window)

    ARGV[1] max       requests per window
    ARGV[2] block     block size wanted (>= 1)
    ARGV[3] windowMs  window length, ms

  Output: { counter after, granted, ms left in the window }. granted = 0 when the quota is spent;
  the requests granted are numbers (counter after - granted + 1) .. counter after.
]]
-- Milliseconds left in the window; a counter without one (just created) starts its window now.
local function windowLeft ()
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    ttl = tonumber(ARGV[3])
  end
  return ttl
end

local max = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current >= max then
  return { current, 0, windowLeft() }
end
local granted = math.min(tonumber(ARGV[2]), max - current)
local after = redis.call('INCRBY', KEYS[1], granted)
return { after, granted, windowLeft() }
