--[[
  A buyer's standing on a shard's waitlist, for a poll: first the tickets decided since the last
  look join it (lua/includes/waitlist.lua: any caller may do that, the result is the same), then the
  buyer's place and the position of the ticket they hold now (a buyer served from the waitlist
  holds a new one).

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

  Output: { place on the waitlist (0 = not on it), queue position the buyer holds (0 = none) }
]]
--@include "waitlist.lua"

local w = { list = KEYS[4], users = KEYS[5], seq = KEYS[6], cursor = KEYS[7], left = KEYS[8], lostBelow = KEYS[9] }
indexWaitlist(w, KEYS[1], KEYS[2], KEYS[3])
return { waitlistPlace(w, ARGV[1]), tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') }
