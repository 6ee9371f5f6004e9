--[[
  Logout: revoke a refresh token's family, only when the token presented is the family's current
  one (or the one just rotated away, within the grace period): knowing a family id alone signs
  nobody out.

  Input:
    KEYS[1] family         hash  as in rotateRefresh
    ARGV[1] presentedHash  sha256 of the presented secret
    ARGV[2] nowMs          now, in milliseconds
    ARGV[3] graceMs        grace period in milliseconds

  Output: 1 revoked; 0 the family is unknown or expired (already signed out); -1 the secret is not
  the family's (nothing changes).
]]
local f = redis.call('HMGET', KEYS[1], 'current', 'previous', 'rotated')
local current, previous, rotated = f[1], f[2], tonumber(f[3])
if not current then
  return 0
end
if current == ARGV[1] or (previous == ARGV[1] and rotated and tonumber(ARGV[2]) - rotated <= tonumber(ARGV[3])) then
  redis.call('DEL', KEYS[1])
  return 1
end
return -1
