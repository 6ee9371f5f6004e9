--[[
  Read a ticket with what a poll needs to place it in line, in one round trip.

  Input:
    KEYS[1] tickets    hash  queue position -> "user|status|detail"
    KEYS[2] drained    int   highest queue position decided
    KEYS[3] rate       str   drain rate, tickets per second
    KEYS[4] lostBelow  int   positions handed out before Redis lost the shard (0 if never)
    KEYS[5] stock      int   unreserved units (missing: the shard is not warm -- lost, and not yet
                             rebuilt)
    ARGV[1] qpos       queue position

  Output: { ticket value or "", drained, rate or "", lost-below, 1 when the shard is warm else 0 }
]]
return {
  redis.call('HGET', KEYS[1], ARGV[1]) or '',
  tonumber(redis.call('GET', KEYS[2]) or '0'),
  redis.call('GET', KEYS[3]) or '',
  tonumber(redis.call('GET', KEYS[4]) or '0'),
  redis.call('EXISTS', KEYS[5])
}
