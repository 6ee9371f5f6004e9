/**
 * Ownership of a shard's drain: a Redis key holding the owner's token, renewed while the owner
 * lives. When the owner dies the key expires and another worker takes the shard.
 *
 * The token carries a fencing number that grows with every takeover (kept in MySQL, see
 * src/db/shard-fences.ts), so it is new at each takeover even for the same process: the drain's
 * scripts compare the token exactly and the order write checks the number in its transaction, so
 * a former owner that wakes up late changes nothing, in Redis or in MySQL.
 *
 * Taking a lease: a provisional token is set first (only one taker gets it), the fencing number
 * is raised in MySQL, then the provisional token is swapped for `<fence>:<owner>`.
 */
import { randomUUID } from 'node:crypto'
import type { Knex } from 'knex'
import type { ShardKeys, ShardRef } from '../redis/keys'
import type { RedisClient } from '../redis/scripts'
import { releaseLease, swapLease } from '../redis/commands'
import { raiseFence } from '../db/shard-fences'

export { releaseLease, renewLease } from '../redis/commands'

export interface Lease {
  /** What the drain's scripts compare: `<fence>:<owner>`. */
  readonly token: string
  /** What the order write checks in MySQL. */
  readonly fence: number
}

export async function acquireLease (redis: RedisClient, db: Knex, keys: ShardKeys, ref: ShardRef, owner: string, ms: number): Promise<Lease | undefined> {
  const provisional = `taking:${owner}:${randomUUID()}`
  if (await redis.set(keys.lease, provisional, 'PX', ms, 'NX') !== 'OK') return undefined
  try {
    const fence = await raiseFence(db, ref)
    const token = `${fence}:${owner}`
    if (!await swapLease(redis, keys, provisional, token, ms)) return undefined
    return { token, fence }
  } catch (err) {
    await releaseLease(redis, keys, provisional).catch(() => undefined)
    throw err
  }
}
