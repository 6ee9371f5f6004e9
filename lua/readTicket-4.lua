--[[
  Read a ticket with what a poll needs to place it in line, in one round trip.

  Input:
    KEYS[1] tickets     hash  queue position -> "user|status|detail"
    KEYS[2] drained     int   highest queue position decided
    KEYS[3] rate        str   drain rate, tickets per second
    KEYS[4] lost-below  int   positions handed out before Redis lost the shard (0 if never)
    ARGV[1] queue position

  Output: { ticket value or "", drained, rate or "", lost-below }
]]
return {
  redis.call('HGET', KEYS[1], ARGV[1]) or '',
  tonumber(redis.call('GET', KEYS[2]) or '0'),
  redis.call('GET', KEYS[3]) or '',
  tonumber(redis.call('GET', KEYS[4]) or '0')
}
