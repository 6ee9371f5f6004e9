/**
 * A live view of one sale for the operator page: per shard, how many buyers were admitted, how
 * many tickets the drain has decided, how many wait, the units left and the buyers turned away at
 * the gate; and MySQL's sold count. Read from Redis and MySQL, so it covers every process.
 */
import type { EventsRepository } from './events'
import { notFound } from './errors'
import type { SaleStateDeps } from './sale-state'

export interface ShardStats {
  readonly shard: number
  /** Queue positions handed out (admitted tickets). */
  readonly admitted: number
  /** Highest position the drain has decided. */
  readonly decided: number
  /** Admitted tickets not decided yet. */
  readonly waiting: number
  /** Units of the shard not reserved yet. */
  readonly units_left: number
  /** Buyers turned away at the shard's gate (sold out there). */
  readonly turned_away: number
}

export interface SaleStats {
  readonly event_id: number
  /** Server time of the sample (ms since the epoch). */
  readonly at: number
  readonly stock: number
  readonly sold: number
  readonly shards: readonly ShardStats[]
}

export async function saleStats (deps: { readonly sale: SaleStateDeps, readonly events: EventsRepository }, id: number): Promise<SaleStats> {
  const event = await deps.events.findById(id)
  if (event === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
  const { redis, keys } = deps.sale
  const shards = await Promise.all(Array.from({ length: event.shards }, async (_, shard) => {
    const k = keys.shard({ eventId: id, shard })
    const [qseq, drained, pending, stock, rejected] = await Promise.all([
      redis.get(k.qseq), redis.get(k.drained), redis.get(k.pending), redis.get(k.stock), redis.scard(k.rejected)
    ])
    return {
      shard,
      admitted: Number(qseq ?? 0),
      decided: Number(drained ?? 0),
      waiting: Number(pending ?? 0),
      units_left: Number(stock ?? 0),
      turned_away: rejected
    }
  }))
  return { event_id: id, at: Date.now(), stock: event.stock, sold: event.sold, shards }
}
