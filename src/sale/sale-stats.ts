/**
 * A live view of one sale for the operator page: per shard, how many buyers were admitted, how
 * many tickets the drain has decided, how many wait, the units left and the buyers turned away at
 * the gate; and MySQL's sold count. Read from Redis and MySQL, so it covers every process.
 */
import type { EventsRepository } from '../catalog'
import type { OrdersRepository } from '../orders'
import { notFound } from '../shared/errors'
import { queuedTicketId } from '../shared/ticket-ids'
import type { SaleStateDeps } from '../stock'

import type { SaleStats as SaleStatsView } from '../shapes/api'

/** A sample of a sale across every process; the answering ingress adds its own buy p99 (buy_p99_ms). */
export type SaleStats = Omit<SaleStatsView, 'buy_p99_ms'>

/** Workers whose last heartbeat is older than this many leases are not listed (the dispatcher forgets them too). */
const WORKER_ALIVE_LEASES = 3

export async function saleStats (deps: { readonly sale: SaleStateDeps, readonly events: EventsRepository, readonly orders: Pick<OrdersRepository, 'countByStatus' | 'paymentCounts'>, readonly leaseMs: number }, id: number): Promise<SaleStats> {
  const event = await deps.events.findById(id)
  if (event === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
  const { redis, keys } = deps.sale
  const now = Date.now()
  const [shards, orders, payments, workers] = await Promise.all([
    Promise.all(Array.from({ length: event.shards }, async (_, shard) => {
      const k = keys.shard({ eventId: id, shard })
      const [qseq, drained, pending, stock, rejected, lease] = await Promise.all([
        redis.get(k.qseq), redis.get(k.drained), redis.get(k.pending), redis.get(k.stock), redis.scard(k.rejected), redis.get(k.lease)
      ])
      const admitted = Number(qseq ?? 0)
      const decided = Number(drained ?? 0)
      // The first undecided ticket's job says when it was admitted: the oldest wait of the shard,
      // whether its ticket waits in the queue or sits in a batch that does not finish.
      const inLine = Math.max(0, admitted - decided)
      const queuedAt = inLine > 0 ? await redis.hget(keys.buyQueue({ eventId: id, shard }).jobPrefix + queuedTicketId(id, shard, decided + 1), 'timestamp') : null
      return {
        shard,
        admitted,
        decided,
        waiting: Number(pending ?? 0),
        in_line: inLine,
        oldest_wait_ms: queuedAt === null ? null : Math.max(0, now - Number(queuedAt)),
        units_left: Number(stock ?? 0),
        turned_away: rejected,
        owner: leaseOwner(lease)
      }
    })),
    deps.orders.countByStatus(id),
    deps.orders.paymentCounts(id),
    redis.zrangebyscore(keys.workers, now - deps.leaseMs * WORKER_ALIVE_LEASES, '+inf', 'WITHSCORES')
  ])
  const alive: Array<{ id: string, seen_ms_ago: number }> = []
  for (let i = 0; i + 1 < workers.length; i += 2) alive.push({ id: workers[i] as string, seen_ms_ago: Math.max(0, now - Number(workers[i + 1])) })
  return { event_id: id, at: now, stock: event.stock, sold: event.sold, paused: event.pausedAt != null, shards, orders, payments, workers: alive }
}

/** The worker named in a lease token (`<fence>:<owner>`); null for no lease or one being taken. */
function leaseOwner (token: string | null): string | null {
  if (token === null) return null
  const i = token.indexOf(':')
  return i < 0 ? null : token.slice(i + 1)
}
