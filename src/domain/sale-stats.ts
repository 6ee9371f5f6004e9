/**
 * A live view of one sale for the operator page: per shard, how many buyers were admitted, how
 * many tickets the drain has decided, how many wait, the units left and the buyers turned away at
 * the gate; and MySQL's sold count. Read from Redis and MySQL, so it covers every process.
 */
import type { EventsRepository } from './events'
import { notFound } from './errors'
import type { SaleStateDeps } from './sale-state'

import type { SaleStats as SaleStatsView } from '../shapes/api'

/** A sample of a sale across every process; the answering ingress adds its own buy p99 (buy_p99_ms). */
export type SaleStats = Omit<SaleStatsView, 'buy_p99_ms'>

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
