--[[
  Use a refresh token once: if it is its family's current token, replace it with the next one.
  The next secret is derived from the presented one (an HMAC under a server key), so a caller that
  presents the token just rotated away -- a second tab that refreshed at the same moment -- within
  the grace period gets the same next token back instead of revoking the family. Any other token
  of the family was used before: someone replays a stolen token, so the whole family is revoked.

  Input:
    KEYS[1] family         hash  user -> user id, current -> sha256 of the family's current
                                 secret, previous -> sha256 of the secret rotated away last,
                                 rotated -> when (ms)
    ARGV[1] presentedHash  sha256 of the presented secret
    ARGV[2] nextHash       sha256 of the next secret (derived from the presented one)
    ARGV[3] ttlMs          family lifetime in milliseconds
    ARGV[4] nowMs          now, in milliseconds (the caller's clock, so tests can drive it)
    ARGV[5] graceMs        grace period in milliseconds

  Output: the user id when rotated, or when the just-rotated token came again within the grace
  period (nothing changes then); 0 when the family is unknown or expired; -1 when a used token was
  replayed (the family is revoked).
]]
local f = redis.call('HMGET', KEYS[1], 'current', 'previous', 'rotated')
local current, previous, rotated = f[1], f[2], tonumber(f[3])
if not current then
  return 0
end
if current == ARGV[1] then
  redis.call('HSET', KEYS[1], 'current', ARGV[2], 'previous', ARGV[1], 'rotated', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return redis.call('HGET', KEYS[1], 'user')
end
if previous == ARGV[1] and current == ARGV[2] and rotated and tonumber(ARGV[4]) - rotated <= tonumber(ARGV[5]) then
  return redis.call('HGET', KEYS[1], 'user')
end
redis.call('DEL', KEYS[1])
return -1
