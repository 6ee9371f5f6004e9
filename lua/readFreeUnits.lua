--[[
  How many units a shard could lend its siblings now: its stock less the tickets waiting on it,
  less a randomized start's entrants until the seal counts them as pending (as lua/borrowStock
  counts them). Read-only; the caller writes the number into each sibling's peers hash (other
  slots: one command each). One script call instead of a MULTI of four reads, made by every busy
  shard of a multi-shard sale every FREE_HINT_MS (workers/drain/sibling-hints.ts).

  Input:
    KEYS[1] stock      int   the shard's unreserved units
    KEYS[2] pending    int   admitted tickets not decided yet
    KEYS[3] startSeal  str   set once a randomized start's entrants are sealed (placed as pending)
    KEYS[4] entrants   hash  a randomized start's entrants not placed yet

  Output: the free units, at least 0
]]
local free = tonumber(redis.call('GET', KEYS[1]) or '0') - tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('EXISTS', KEYS[3]) == 0 then
  free = free - redis.call('HLEN', KEYS[4])
end
if free < 0 then
  return 0
end
return free
