/**
 * Orders: the repository over `orders` and what the API shows of one. Every change of status is a
 * compare-and-set in SQL (`WHERE status = 'pending_payment'`), so concurrent pay, cancel and
 * expiry of one order can never both succeed.
 */
import type { Knex } from 'knex'
import type { Db } from '../db/knex'
import type { PageRequest } from '../shared/page'

import type { OrderStatus, OrderView } from '../shapes/api'
export { ORDER_STATUSES } from '../shapes/api'
export type { OrderStatus, OrderView } from '../shapes/api'

/** MySQL's clock, the one payment deadlines are set and judged on (ms precision, as the columns). */
const MYSQL_NOW = 'CURRENT_TIMESTAMP(3)'

export interface Order {
  readonly id: number
  readonly ticketId: string
  readonly eventId: number
  readonly userId: string
  readonly priceCents: number
  readonly status: OrderStatus
  readonly createdAt: Date
  readonly expiresAt: Date | null
  readonly paidAt: Date | null
  /** The shard whose stock the order's unit came from (null: the ticket's own shard). */
  readonly unitShard: number | null
}

interface OrderRow {
  id: number | string
  ticket_id: string
  event_id: number | string
  user_id: number | string
  price_cents: number
  status: OrderStatus
  created_at: Date
  expires_at: Date | null
  paid_at: Date | null
  unit_shard: number | null
}

const COLUMNS = ['id', 'ticket_id', 'event_id', 'user_id', 'price_cents', 'status', 'created_at', 'expires_at', 'paid_at', 'unit_shard']

function toOrder (r: OrderRow): Order {
  return {
    id: Number(r.id),
    ticketId: r.ticket_id,
    eventId: Number(r.event_id),
    userId: String(r.user_id),
    priceCents: r.price_cents,
    status: r.status,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    paidAt: r.paid_at,
    unitShard: r.unit_shard
  }
}

export function orderView (o: Order): OrderView {
  return {
    id: String(o.id),
    ticket_id: o.ticketId,
    event_id: o.eventId,
    user_id: o.userId,
    price_cents: o.priceCents,
    status: o.status,
    created_at: o.createdAt.toISOString(),
    expires_at: o.expiresAt?.toISOString() ?? null,
    paid_at: o.paidAt?.toISOString() ?? null
  }
}

export interface OrderFilter {
  readonly userId?: string
  readonly eventId?: number
  readonly status?: OrderStatus
}

export type OrderSortField = 'created_at' | 'id' | 'price_cents'

export function ordersRepository (db: Db) {
  const filtered = (f: OrderFilter, q: Knex.QueryBuilder): Knex.QueryBuilder => {
    if (f.userId !== undefined) q.where('user_id', f.userId)
    if (f.eventId !== undefined) q.where('event_id', f.eventId)
    if (f.status !== undefined) q.where('status', f.status)
    return q
  }
  return {
    async findById (id: number, trx?: Knex.Transaction, lock = false): Promise<Order | undefined> {
      const query = (trx ?? db)('orders').first(COLUMNS).where({ id })
      if (lock) query.forUpdate()
      const row = await query as OrderRow | undefined
      return row === undefined ? undefined : toOrder(row)
    },

    async findByTicketId (ticketId: string): Promise<Order | undefined> {
      const row = await db('orders').first(COLUMNS).where({ ticket_id: ticketId }) as OrderRow | undefined
      return row === undefined ? undefined : toOrder(row)
    },

    /** The buyer's order for a sale (one at most: orders are unique per event and buyer). */
    async findByEventAndUser (eventId: number, userId: string): Promise<Order | undefined> {
      const row = await db('orders').first(COLUMNS).where({ event_id: eventId, user_id: userId }) as OrderRow | undefined
      return row === undefined ? undefined : toOrder(row)
    },

    /** How many of a sale's orders are in each status. */
    async countByStatus (eventId: number): Promise<Record<OrderStatus, number>> {
      const rows = await db('orders').select('status').count({ n: '*' }).where({ event_id: eventId }).groupBy('status') as Array<{ status: OrderStatus, n: number | string }>
      const counts: Record<OrderStatus, number> = { pending_payment: 0, paid: 0, cancelled: 0, expired: 0, refunded: 0 }
      for (const r of rows) counts[r.status] = Number(r.n)
      return counts
    },

    /** How many of a sale's orders' payments are in each status (the operator page). */
    async paymentCounts (eventId: number): Promise<Record<'pending' | 'failed' | 'captured' | 'refunding' | 'refunded', number>> {
      const rows = await db('payments').join('orders', 'orders.id', 'payments.order_id').select('payments.status').count({ n: '*' })
        .where('orders.event_id', eventId).groupBy('payments.status') as Array<{ status: string, n: number | string }>
      const counts = { pending: 0, failed: 0, captured: 0, refunding: 0, refunded: 0 }
      for (const r of rows) if (r.status in counts) counts[r.status as keyof typeof counts] = Number(r.n)
      return counts
    },

    async list (f: OrderFilter, p: PageRequest<OrderSortField>): Promise<{ items: Order[], total: number }> {
      const [rows, count] = await Promise.all([
        filtered(f, db('orders').select(COLUMNS)).orderBy(p.sort.field, p.sort.direction).orderBy('id', p.sort.direction)
          .limit(p.pageSize).offset((p.page - 1) * p.pageSize) as Promise<OrderRow[]>,
        filtered(f, db('orders').count({ n: '*' })).first() as Promise<{ n: number | string } | undefined>
      ])
      return { items: rows.map(toOrder), total: Number(count?.n ?? 0) }
    },

    /**
     * Moves an order from `pending_payment` to `to`; true when this call made the change. The
     * deadline is judged here, on MySQL's clock and nowhere else: paying requires it not to have
     * passed (`expires_at > NOW(3)`), expiring requires it to have passed (`expires_at <= NOW(3)`),
     * so whatever a process's clock says, a payable order is never expired and an expired one
     * never paid.
     */
    async transition (id: number, to: Exclude<OrderStatus, 'pending_payment' | 'refunded'>, trx: Knex.Transaction): Promise<boolean> {
      const q = trx('orders').where({ id, status: 'pending_payment' })
      if (to === 'paid') q.andWhere((w) => { w.whereNull('expires_at').orWhere('expires_at', '>', trx.raw(MYSQL_NOW)) })
      if (to === 'expired') q.andWhere('expires_at', '<=', trx.raw(MYSQL_NOW))
      const changes: Record<string, unknown> = { status: to, updated_at: trx.raw(MYSQL_NOW) }
      if (to === 'paid') changes.paid_at = trx.raw(MYSQL_NOW)
      return (await q.update(changes)) === 1
    },

    /** A paid order whose money went back in full: `paid` → `refunded`; true when this call changed it. */
    async markRefunded (id: number, trx: Knex.Transaction): Promise<boolean> {
      return (await trx('orders').where({ id, status: 'paid' }).update({ status: 'refunded', updated_at: trx.raw(MYSQL_NOW) })) === 1
    },

    /**
     * Expires those of `ids` whose deadline has passed by MySQL's clock, with `transition`'s guard,
     * skipping rows another transaction holds (a pay, a cancel, another worker's expiry decides
     * them). Rows are locked by primary key only, never a range, so a drain inserting new orders
     * is not held up. Resolves to the orders this call expired.
     */
    async expireDue (ids: readonly number[], trx: Knex.Transaction): Promise<Array<Pick<Order, 'id' | 'eventId' | 'ticketId' | 'unitShard'>>> {
      if (ids.length === 0) return []
      const rows = await trx('orders').select('id', 'event_id', 'ticket_id', 'unit_shard').whereIn('id', ids)
        .andWhere('status', 'pending_payment').andWhere('expires_at', '<=', trx.raw(MYSQL_NOW))
        .forUpdate().skipLocked() as Array<Pick<OrderRow, 'id' | 'event_id' | 'ticket_id' | 'unit_shard'>>
      if (rows.length === 0) return []
      const locked = rows.map((r) => Number(r.id))
      const changed = await trx('orders').whereIn('id', locked).andWhere('status', 'pending_payment').andWhere('expires_at', '<=', trx.raw(MYSQL_NOW))
        .update({ status: 'expired', updated_at: trx.raw(MYSQL_NOW) })
      // The rows are locked by this transaction: nothing can have changed them.
      if (changed !== rows.length) throw new Error(`expiring ${rows.length} locked orders changed ${changed}`)
      return rows.map((r) => ({ id: Number(r.id), eventId: Number(r.event_id), ticketId: r.ticket_id, unitShard: r.unit_shard }))
    },

    /** Pending orders whose deadline has passed by MySQL's clock, earliest first. */
    async due (limit: number): Promise<number[]> {
      const rows = await db('orders').select('id').where('status', 'pending_payment')
        .andWhere('expires_at', '<=', db.raw(MYSQL_NOW)).orderBy('expires_at').limit(limit) as Array<{ id: number | string }>
      return rows.map((r) => Number(r.id))
    },

    /**
     * How long until the earliest deadline of a pending order, on MySQL's clock (ms; 0 or less:
     * due now); undefined when no order is pending. A difference of two MySQL times: no process
     * clock enters it.
     */
    async msToNextDeadline (): Promise<number | undefined> {
      const row = await db('orders').first(db.raw(`TIMESTAMPDIFF(MICROSECOND, ${MYSQL_NOW}, MIN(expires_at)) AS us`))
        .where('status', 'pending_payment').whereNotNull('expires_at') as { us: number | string | null } | undefined
      return row?.us === null || row?.us === undefined ? undefined : Number(row.us) / 1000
    }
  }
}
export type OrdersRepository = ReturnType<typeof ordersRepository>
