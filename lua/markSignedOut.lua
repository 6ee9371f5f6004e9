--[[
  Logout of one device: the access tokens issued to that refresh family stop working. Each access
  token names its family; the authenticated routes look the family up here (in the same HMGET as
  the generation, so no extra round trip). Entries older than an access token's lifetime void
  nothing any more and are dropped.

  Input:
    KEYS[1] sessions     hash  as in raiseSessionGen
    ARGV[1] family       the refresh family signed out
    ARGV[2] nowMs        now, in milliseconds (the caller's clock)
    ARGV[3] accessTtlMs  an access token's lifetime, in milliseconds (the hash lives at least this
                         long)

  Output: the number of sign-outs kept for the account.
]]
local now, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
local fields = redis.call('HGETALL', KEYS[1])
local kept = 1
for i = 1, #fields, 2 do
  local name = fields[i]
  if string.sub(name, 1, 4) == 'out:' and name ~= 'out:' .. ARGV[1] then
    if now - tonumber(fields[i + 1]) > ttl then
      redis.call('HDEL', KEYS[1], name)
    else
      kept = kept + 1
    end
  end
end
redis.call('HSET', KEYS[1], 'out:' .. ARGV[1], now)
redis.call('PEXPIRE', KEYS[1], ttl)
return kept
