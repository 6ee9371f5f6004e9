-- Shared by the waitlist scripts (admitWaitlisted, serveWaitlist, readWaitlist, leaveWaitlist).
-- Every key arrives as an argument, from the caller's KEYS.
--
-- joinWaitlist(wl, users, seq, user, key): the buyer joins at arrival key `key` once (a second
-- call changes nothing); the member is "<12-digit seq>:<user>", so buyers with the same arrival
-- key (a crowd turned away while no position was handed out) keep the order they came in.
--
-- indexWaitlist(w, tickets, holders, drained): tickets decided since the last look -- positions in
-- (cursor, drained] -- that ended sold_out join at arrival key `position - 0.5`: such a buyer came
-- before every buyer the gate turned away after their position was handed out, and after those
-- turned away before. A ticket still queued stops the look there (it is looked at again later); a
-- buyer who left, or holds a newer ticket (served from the waitlist before), is skipped. Positions
-- below `lostBelow` do not exist (a rebuild after Redis lost the shard starts far above them), so
-- the look starts there; and one look reads at most MAX_LOOK positions, so no call holds Redis
-- long: it answers true when it reached `drained` (or a ticket still queued), false when it stopped
-- at the bound (the next look goes on). The keys in `w`: list, users, seq, cursor, left, lostBelow.
local function joinWaitlist (wl, users, seq, user, key)
  if redis.call('HEXISTS', users, user) == 1 then return end
  local member = string.format('%012d', redis.call('INCR', seq)) .. ':' .. user
  redis.call('ZADD', wl, key, member)
  redis.call('HSET', users, user, member)
end

local MAX_LOOK = 2000

local function indexWaitlist (w, tickets, holders, drained)
  local from = tonumber(redis.call('GET', w.cursor) or '0')
  local floor = tonumber(redis.call('GET', w.lostBelow) or '0')
  if from < floor then from = floor end
  local upTo = tonumber(redis.call('GET', drained) or '0')
  local caughtUp = true
  if upTo - from > MAX_LOOK then
    upTo = from + MAX_LOOK
    caughtUp = false
  end
  local done = from
  for q = from + 1, upTo do
    local value = redis.call('HGET', tickets, q)
    if value then
      local user, status = string.match(value, '^([^|]*)|([^|]*)|')
      if status == 'queued' then
        caughtUp = true
        break
      end
      if status == 'sold_out' and tonumber(redis.call('HGET', holders, user) or '0') == q
          and redis.call('SISMEMBER', w.left, user) == 0 then
        joinWaitlist(w.list, w.users, w.seq, user, q - 0.5)
      end
    end
    done = q
  end
  if done > from then redis.call('SET', w.cursor, done) end
  return caughtUp
end

-- The buyer's place on the waitlist (1 = next), or 0 when not on it.
local function waitlistPlace (w, user)
  local member = redis.call('HGET', w.users, user)
  if not member then return 0 end
  local rank = redis.call('ZRANK', w.list, member)
  if not rank then return 0 end
  return rank + 1
end
