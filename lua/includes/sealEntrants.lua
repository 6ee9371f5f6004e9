-- Closes a randomized start's entry list, once: called by lua/admitRandomStart for the first buy
-- after the start, and by lua/placeEntrants when the shard's owner places at the start (MySQL's
-- clock), whichever comes first. The entrants so far are all there will be: queue positions
-- base+1 .. base+n are kept for them (qseq moves past them, `pending` counts them as admitted),
-- so every buy admitted after the seal queues behind them, and the gate counts them.
-- `seal` holds "<base>:<n>". Returns base, n, and true when this call sealed.
local function sealEntrants (entrants, seal, qseq, pending)
  local sealed = redis.call('GET', seal)
  if sealed then
    local sep = string.find(sealed, ':', 1, true)
    return tonumber(string.sub(sealed, 1, sep - 1)), tonumber(string.sub(sealed, sep + 1)), false
  end
  local n = redis.call('HLEN', entrants)
  local base = tonumber(redis.call('GET', qseq) or '0')
  redis.call('SET', seal, base .. ':' .. n)
  if n > 0 then
    redis.call('SET', qseq, base + n)
    redis.call('INCRBY', pending, n)
  end
  return base, n, true
end
