/**
 * Shard fencing tokens in MySQL (table `shard_fences`). A takeover raises the shard's token; the
 * drain's order write checks, inside its own transaction, that the token it runs under is still
 * the current one (src/orders/order-write.ts, its locking read). The check locks the row until the
 * write commits, and raising the token locks it too, so a takeover and a stale owner's write are
 * ordered: either the write commits first (and the new owner finds its orders) or it sees the new
 * token and writes nothing.
 */
import type { Knex } from 'knex'
import type { ShardRef } from '../redis/keys'

/** Raises the shard's fencing token and returns the new value (1 for a shard never owned). */
export async function raiseFence (db: Knex, ref: ShardRef): Promise<number> {
  return await db.transaction(async (trx) => {
    await trx.raw('INSERT INTO shard_fences (event_id, shard, fence) VALUES (?, ?, 1) ON DUPLICATE KEY UPDATE fence = fence + 1', [ref.eventId, ref.shard])
    const row = await trx('shard_fences').first('fence').where({ event_id: ref.eventId, shard: ref.shard }) as { fence: number | string }
    return Number(row.fence)
  })
}
