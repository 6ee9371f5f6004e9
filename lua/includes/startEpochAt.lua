--[[
  Shared by the scripts that start a new FIFO epoch of a shard (applyReturn, startEpoch,
  reopenShard). The epoch list holds "<decided up to>:<rejected-at or empty>" per closed epoch.

  startEpochAt(epochs, closed, rejectedAt, boundary): positions up to `boundary` belong to the
  epochs before; the new one starts after it and the gate reopens. Boundaries never go back: an
  entry above `boundary` was set by a batch that never finished (its positions are undecided and
  will be decided now, with the units that came back), so it is cut down to `boundary`, keeping
  the gate mark of the earliest epoch cut.
]]
local function startEpochAt (epochs, closed, rejectedAtKey, boundary)
  local mark = redis.call('GET', rejectedAtKey) or ''
  local last = redis.call('LINDEX', epochs, -1)
  while last do
    local upTo, rej = string.match(last, '^([^:]*):(.*)$')
    if tonumber(upTo) <= boundary then break end
    mark = rej
    redis.call('RPOP', epochs)
    last = redis.call('LINDEX', epochs, -1)
  end
  redis.call('RPUSH', epochs, boundary .. ':' .. mark)
  redis.call('DEL', closed, rejectedAtKey)
end
