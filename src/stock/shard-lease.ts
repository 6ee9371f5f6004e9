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
 * is raised in MySQL and recorded in the sibling shards (where borrowing is fenced), then the
 * provisional token is swapped for `<fence>:<owner>`.
 */
import { randomUUID } from 'node:crypto'
import type { Knex } from 'knex'
import type { KeySpace, ShardRef } from '../redis/keys'
import type { RedisClient } from '../redis/scripts'
import { fenceBorrower, releaseLease, swapLease } from './scripts'
import { raiseFence } from '../db/shard-fences'

export { releaseLease, renewLease } from './scripts'

export interface Lease {
  /** What the drain's scripts compare: `<fence>:<owner>`. */
  readonly token: string
  /** What the order write checks in MySQL. */
  readonly fence: number
}

/**
 * Takes the shard's lease when nobody holds it. Before returning, the new fencing number is
 * recorded in every sibling shard of the event (lua/fenceBorrower), so a former owner that wakes
 * up late cannot borrow there either: a lease holder's first batch comes after that.
 */
export async function acquireLease (redis: RedisClient, db: Knex, space: KeySpace, ref: ShardRef, shards: number, owner: string, ms: number): Promise<Lease | undefined> {
  const keys = space.shard(ref)
  const provisional = `taking:${owner}:${randomUUID()}`
  if (await redis.set(keys.lease, provisional, 'PX', ms, 'NX') !== 'OK') return undefined
  try {
    const fence = await raiseFence(db, ref)
    await fenceSiblings(redis, space, ref, shards, fence)
    const token = `${fence}:${owner}`
    if (!await swapLease(redis, keys, provisional, token, ms)) return undefined
    return { token, fence }
  } catch (err) {
    await releaseLease(redis, keys, provisional).catch(() => undefined)
    throw err
  }
}

/** Records `ref`'s fencing number in each sibling shard of its event (borrowing is fenced there). */
export async function fenceSiblings (redis: RedisClient, space: KeySpace, ref: ShardRef, shards: number, fence: number): Promise<void> {
  await Promise.all(Array.from({ length: shards }, (_, s) => s).filter((s) => s !== ref.shard)
    .map(async (s) => await fenceBorrower(redis, space.shard({ eventId: ref.eventId, shard: s }), ref.shard, fence)))
}
