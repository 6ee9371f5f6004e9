/**
 * Audits a sale against the product's invariants, reading MySQL and Redis directly (never through
 * the API). Tests, the benchmark and fault drills all end with it.
 *
 *   I1  live orders of the event <= stock, and `sold` counts exactly the live orders
 *   I2  at most one live order per (event, user); every won ticket has its order and vice versa
 *       (bar orders whose ticket Redis lost in a restart without persistence: MySQL has them)
 *   I3  no ticket is still queued, nothing pending, every admitted position decided
 *   I4  FIFO per shard: no ticket lost to sold_out while a later ticket of the shard won, judged
 *       within each epoch (a unit that came back from a cancelled or expired order starts one)
 *   I5  when demand >= stock, every unit is sold
 *   I6  Redis unreserved stock = stock − sold, and units held in Redis = live orders
 *
 * I7 (a resubmitted buy returns the same ticket) is a property of the API; callers check it there.
 */
import type { Knex } from 'knex'
import type { RedisClient } from '../redis/scripts'
import type { KeySpace } from '../redis/keys'
import { parseStoredTicket, parseTicketId, queuedTicketId } from '../domain/tickets'
import { LIVE_ORDER_STATUSES } from '../domain/orders'

export interface InvariantCheck {
  readonly id: 'I1' | 'I2' | 'I3' | 'I4' | 'I5' | 'I6'
  readonly ok: boolean
  readonly detail: string
}

export interface SaleAudit {
  readonly eventId: number
  readonly stock: number
  readonly sold: number
  readonly liveOrders: number
  /** Distinct buyers Redis saw (held a ticket or were turned away at the gate); buyers answered
   *  by an ingress's local sold-out flag never reach Redis, so this is a lower bound. */
  readonly demand: number
  readonly tickets: { readonly won: number, readonly soldOut: number, readonly failed: number, readonly queued: number, readonly rejectedAtGate: number }
  readonly checks: readonly InvariantCheck[]
  readonly ok: boolean
}


export async function auditSale (db: Knex, redis: RedisClient, keys: KeySpace, eventId: number): Promise<SaleAudit> {
  const event = await db('seckill_events').first('stock', 'sold', 'shards').where({ id: eventId }) as { stock: number, sold: number, shards: number } | undefined
  if (event === undefined) throw new Error(`event ${eventId} not found`)
  const orders = await db('orders').select('id', 'ticket_id', 'user_id', 'status').where({ event_id: eventId }) as Array<{ id: number | string, ticket_id: string, user_id: number | string, status: string }>
  const live = orders.filter((o) => (LIVE_ORDER_STATUSES as readonly string[]).includes(o.status))
  const orderByTicket = new Map(orders.map((o) => [o.ticket_id, o]))

  const counts = { won: 0, soldOut: 0, failed: 0, queued: 0, rejectedAtGate: 0 }
  let demand = 0
  let redisStock = 0
  let heldUnits = 0
  const fifoProblems: string[] = []
  const progressProblems: string[] = []
  const pairingProblems: string[] = []
  const wonTickets = new Set<string>()
  /** Tickets Redis lost (handed out before a rebuild): MySQL alone knows the ones that won. */
  const lostWithRedis: Array<(shard: number, qpos: number) => boolean> = []

  for (let shard = 0; shard < event.shards; shard++) {
    const k = keys.shard({ eventId, shard })
    const [stock, pending, qseq, drained, rejectedAt, rejected, reserved, tickets, epochList] = await Promise.all([
      redis.get(k.stock), redis.get(k.pending), redis.get(k.qseq), redis.get(k.drained), redis.get(k.rejectedAt),
      redis.scard(k.rejected), redis.hlen(k.reserved), redis.hgetall(k.tickets), redis.lrange(k.epochs, 0, -1)
    ])
    const lostBelow = Number(await redis.get(k.lostBelow) ?? 0)
    lostWithRedis.push((s, qpos) => s === shard && qpos <= lostBelow && tickets[String(qpos)] === undefined)
    // Epoch i holds the positions decided before the i-th reopen; the last epoch runs to now.
    const epochs = epochList.map((e) => {
      const [decidedUpTo, rejectedAtThen] = e.split(':')
      return { upTo: Number(decidedUpTo), rejectedAt: rejectedAtThen === '' || rejectedAtThen === undefined ? undefined : Number(rejectedAtThen) }
    })
    epochs.push({ upTo: Number.POSITIVE_INFINITY, rejectedAt: rejectedAt === null ? undefined : Number(rejectedAt) })
    const epochOf = (qpos: number): number => epochs.findIndex((e) => qpos <= e.upTo)
    const maxWon = new Array<number>(epochs.length).fill(0)
    const minLost = new Array<number>(epochs.length).fill(Number.POSITIVE_INFINITY)
    redisStock += Number(stock ?? 0)
    heldUnits += reserved
    counts.rejectedAtGate += rejected
    demand += rejected + Object.keys(tickets).length
    if (Number(pending ?? 0) !== 0) progressProblems.push(`shard ${shard}: pending=${pending ?? 'missing'}`)
    if (Number(drained ?? 0) !== Number(qseq ?? 0)) progressProblems.push(`shard ${shard}: drained ${drained ?? 0} of ${qseq ?? 0}`)

    for (const [q, value] of Object.entries(tickets)) {
      const qpos = Number(q)
      const t = parseStoredTicket(value)
      const id = queuedTicketId(eventId, shard, qpos)
      if (t === undefined) { progressProblems.push(`${id}: unreadable`); continue }
      switch (t.status) {
        case 'queued': counts.queued++; progressProblems.push(`${id}: still queued`); break
        case 'won': {
          counts.won++
          wonTickets.add(id)
          maxWon[epochOf(qpos)] = Math.max(maxWon[epochOf(qpos)] ?? 0, qpos)
          const order = orderByTicket.get(id)
          if (order === undefined) pairingProblems.push(`${id} won without an order`)
          else if (String(order.id) !== t.detail || String(order.user_id) !== t.userId) pairingProblems.push(`${id} does not match order ${order.id}`)
          break
        }
        case 'sold_out': counts.soldOut++; minLost[epochOf(qpos)] = Math.min(minLost[epochOf(qpos)] ?? Number.POSITIVE_INFINITY, qpos); break
        case 'failed': counts.failed++; break
      }
    }
    epochs.forEach((e, i) => {
      const won = maxWon[i] ?? 0
      const lost = minLost[i] ?? Number.POSITIVE_INFINITY
      if (won > lost) fifoProblems.push(`shard ${shard} epoch ${i}: position ${lost} lost while ${won} won`)
      if (e.rejectedAt !== undefined && won > e.rejectedAt) fifoProblems.push(`shard ${shard} epoch ${i}: position ${won} won after the gate turned buyers away at ${e.rejectedAt}`)
    })
  }
  for (const o of orders) {
    const ref = parseTicketId(o.ticket_id)
    const lost = ref?.kind === 'queued' && lostWithRedis.some((isLost) => isLost(ref.shard, ref.qpos))
    if (!wonTickets.has(o.ticket_id) && !lost) pairingProblems.push(`order ${o.id} has no won ticket ${o.ticket_id}`)
  }
  const perUser = new Map<string, number>()
  for (const o of live) perUser.set(String(o.user_id), (perUser.get(String(o.user_id)) ?? 0) + 1)
  const doubles = [...perUser.entries()].filter(([, n]) => n > 1)

  const checks: InvariantCheck[] = [
    {
      id: 'I1',
      ok: live.length <= event.stock && event.sold === live.length,
      detail: `live orders ${live.length}, sold ${event.sold}, stock ${event.stock}`
    },
    {
      id: 'I2',
      ok: doubles.length === 0 && pairingProblems.length === 0,
      detail: doubles.length > 0 ? `users with two live orders: ${doubles.slice(0, 5).map(([u]) => u).join(', ')}` : pairingProblems.slice(0, 5).join('; ') || 'one order per buyer, each matching its won ticket'
    },
    {
      id: 'I3',
      ok: progressProblems.length === 0,
      detail: progressProblems.slice(0, 5).join('; ') || 'every ticket final'
    },
    {
      id: 'I4',
      ok: fifoProblems.length === 0,
      detail: fifoProblems.join('; ') || 'no later ticket won over an earlier loser'
    },
    {
      id: 'I5',
      ok: demand < event.stock || live.length === event.stock,
      detail: `demand ${demand}, stock ${event.stock}, sold ${live.length}`
    },
    {
      id: 'I6',
      ok: redisStock === event.stock - event.sold && heldUnits === live.length,
      detail: `redis stock ${redisStock} vs stock − sold ${event.stock - event.sold}; units held ${heldUnits} vs live orders ${live.length}`
    }
  ]
  return {
    eventId,
    stock: event.stock,
    sold: event.sold,
    liveOrders: live.length,
    demand,
    tickets: counts,
    checks,
    ok: checks.every((c) => c.ok)
  }
}
