--[[
  Use a refresh token once: if it is its family's current token, replace it with the next one.
  A token that belongs to the family but is not its current one was used before: someone replays a
  stolen token, so the whole family is revoked.

  Input:
    KEYS[1] family  hash  user -> user id, current -> sha256 of the family's current secret
    ARGV[1] sha256 of the presented secret
    ARGV[2] sha256 of the next secret
    ARGV[3] family lifetime in milliseconds

  Output: the user id when rotated; 0 when the family is unknown or expired; -1 when a used token
  was replayed (the family is revoked).
]]
local current = redis.call('HGET', KEYS[1], 'current')
if not current then
  return 0
end
if current ~= ARGV[1] then
  redis.call('DEL', KEYS[1])
  return -1
end
redis.call('HSET', KEYS[1], 'current', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('HGET', KEYS[1], 'user')
