--[[
  A buyer leaves a shard's waitlist (they no longer want a unit that comes back): off the list at
  once and for good -- a later look at decided tickets never puts them back, and a later buy gets
  the sold_out answer without a place. The tickets decided since the last look join first, so a
  buyer whose losing ticket was not looked at yet can leave too.

  Input:
    KEYS[1] tickets        hash  queue position -> "user|status|detail"
    KEYS[2] holders        hash  user -> queue position
    KEYS[3] drained        int   highest queue position decided
    KEYS[4] waitlist       zset  "<seq>:<user>" by arrival key
    KEYS[5] waitlistUsers  hash  user -> member
    KEYS[6] waitlistSeq    int   members made so far
    KEYS[7] waitlistCursor int   positions looked at for tickets that lost
    KEYS[8] waitlistLeft   set   users who left the waitlist
    KEYS[9] lostBelow      int   positions handed out before Redis lost the shard: none exist below it
    ARGV[1] userId         the buyer

  Output: 1 left now, 0 not on the waitlist (served already, or never on it, or left before)
]]
--@include "waitlist.lua"

local w = { list = KEYS[4], users = KEYS[5], seq = KEYS[6], cursor = KEYS[7], left = KEYS[8], lostBelow = KEYS[9] }
indexWaitlist(w, KEYS[1], KEYS[2], KEYS[3])
local member = redis.call('HGET', KEYS[5], ARGV[1])
if not member then
  -- Not on the list: nothing changes (a buyer still in line keeps their place on it if they lose).
  return 0
end
redis.call('SADD', KEYS[8], ARGV[1])
redis.call('ZREM', KEYS[4], member)
redis.call('HDEL', KEYS[5], ARGV[1])
return 1
