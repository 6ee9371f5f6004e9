-- Spends a buyer's proof of work (src/sale/proof-of-work.ts), for a buyer who holds no ticket of
-- the shard and was not turned away before, just before the answer it buys is written; the
-- ingress has checked its signature, its sale, its buyer and its solution.
-- `id` is the proof's id (its challenge's nonce), "" when the buyer sent none, "!" when the
-- ingress refused it (POW_INVALID), "-" when the sale needs none; `expiresAt` its expiry (ms).
-- Returns 0 when spent (or not needed), else the script's refusal: -6 none sent, -7 past its
-- expiry, -8 spent before, -10 refused by the ingress. A proof is spent by the key
-- `prefix .. id`, which expires with the proof on this clock (Redis's): once it is gone, the proof
-- is refused as expired, so it can never be spent twice.
local function spendProof (prefix, id, expiresAt, nowMs)
  if id == '-' then
    return 0
  end
  if id == '' then
    return -6
  end
  if id == '!' then
    return -10
  end
  local expires = tonumber(expiresAt)
  if expires <= nowMs then
    return -7
  end
  if not redis.call('SET', prefix .. id, '1', 'NX', 'PXAT', expiresAt) then
    return -8
  end
  return 0
end
