--[[
  Read a ticket with what a poll needs to place it in line, in one round trip.

  Input:
    KEYS[1] tickets   hash  queue position -> "user|status|detail"
    KEYS[2] drained   int   highest queue position decided
    KEYS[3] rate      str   drain rate, tickets per second
    ARGV[1] queue position

  Output: { ticket value or "", drained, rate or "" }
]]
return {
  redis.call('HGET', KEYS[1], ARGV[1]) or '',
  tonumber(redis.call('GET', KEYS[2]) or '0'),
  redis.call('GET', KEYS[3]) or ''
}
