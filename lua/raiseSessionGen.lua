--[[
  Cache an account's session generation in Redis, never lowering it. MySQL's users.session_gen is
  the truth; a sign-out everywhere (ban, promotion, password change, create-admin) raises it there
  and then here. A request that missed the cache and read MySQL before such a raise may arrive
  after it: it must not bring the older generation back, so the higher value always wins.

  Input:
    KEYS[1] sessions  hash  gen -> the account's session generation; out:<family> -> when that
                            refresh family signed out (ms), see markSignedOut
    ARGV[1] gen       generation read from MySQL (or just written there)
    ARGV[2] ttlMs     how long the cache lives, in milliseconds (at least an access token's
                      lifetime, so a sign-out recorded here outlives every access token it voids)

  Output: the generation now cached (the higher of the two).
]]
local cached = tonumber(redis.call('HGET', KEYS[1], 'gen'))
local given = tonumber(ARGV[1])
if cached == nil or cached < given then
  redis.call('HSET', KEYS[1], 'gen', given)
  cached = given
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return cached
