/**
 * Orders: the repository over `orders` and what the API shows of one. Every change of status is a
 * compare-and-set in SQL (`WHERE status = 'pending_payment'`), so concurrent pay, cancel and
 * expiry of one order can never both succeed.
 */
import type { Knex } from 'knex'
import type { Db } from '../db/knex'

import type { OrderStatus, OrderView } from '../shapes/api'
export { ORDER_STATUSES } from '../shapes/api'
export type { OrderStatus, OrderView, Page } from '../shapes/api'
/** Orders that hold a unit of the sale. */
export const LIVE_ORDER_STATUSES: readonly OrderStatus[] = ['pending_payment', 'paid']

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

export interface PageRequest<F extends string> {
  readonly page: number
  readonly pageSize: number
  readonly sort: { readonly field: F, readonly direction: 'asc' | 'desc' }
}

export function ordersRepository (db: Db) {
  const filtered = (f: OrderFilter, q: Knex.QueryBuilder): Knex.QueryBuilder => {
    if (f.userId !== undefined) q.where('user_id', f.userId)
    if (f.eventId !== undefined) q.where('event_id', f.eventId)
    if (f.status !== undefined) q.where('status', f.status)
    return q
  }
  return {
    async findById (id: number, trx?: Knex.Transaction): Promise<Order | undefined> {
      const row = await (trx ?? db)('orders').first(COLUMNS).where({ id }) as OrderRow | undefined
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
      const counts: Record<OrderStatus, number> = { pending_payment: 0, paid: 0, cancelled: 0, expired: 0 }
      for (const r of rows) counts[r.status] = Number(r.n)
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
     * Moves an order from `pending_payment` to `to`; true when this call made the change. Paying
     * also requires the deadline not to have passed.
     */
    async transition (id: number, to: Exclude<OrderStatus, 'pending_payment'>, trx: Knex.Transaction): Promise<boolean> {
      const q = trx('orders').where({ id, status: 'pending_payment' })
      if (to === 'paid') q.andWhere((w) => { w.whereNull('expires_at').orWhere('expires_at', '>', trx.raw('CURRENT_TIMESTAMP(3)')) })
      const changes: Record<string, unknown> = { status: to, updated_at: trx.raw('CURRENT_TIMESTAMP(3)') }
      if (to === 'paid') changes.paid_at = trx.raw('CURRENT_TIMESTAMP(3)')
      return (await q.update(changes)) === 1
    },

    /** Pending orders whose deadline passed more than `graceMs` ago (the expiry backstop). */
    async overdue (graceMs: number, limit: number): Promise<number[]> {
      const rows = await db('orders').select('id').where('status', 'pending_payment')
        .andWhere('expires_at', '<', new Date(Date.now() - graceMs)).orderBy('expires_at').limit(limit) as Array<{ id: number | string }>
      return rows.map((r) => Number(r.id))
    }
  }
}
export type OrdersRepository = ReturnType<typeof ordersRepository>
