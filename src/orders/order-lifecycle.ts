/**
 * What happens to an order after the sale: paid, cancelled by its buyer, or expired at its
 * payment deadline. Cancel and expiry give the unit back to the sale exactly once: `sold` goes down
 * and the return is recorded (unit_returns) in the same transaction as the status change, which
 * only one caller can make; the shard's owner applies the return to Redis, once. Whether the
 * deadline has passed is MySQL's answer, inside that status change (orders.ts `transition`),
 * never this process's clock.
 */
import type { Knex } from 'knex'
import type { Logger } from 'pino'
import type { Db } from '../db/knex'
import { DomainError, notFound } from '../shared/errors'
import type { EventsRepository } from '../catalog'
import type { Order, OrderView, OrdersRepository } from './orders'
import { orderView } from './orders'
import type { SaleStateDeps } from '../stock'
import { parseTicketId } from '../shared/ticket-ids'
import { recordReturns, signalReturns } from '../stock'
import type { Reader } from '../shared/reader'
import type { AuditInTransaction } from '../shared/admin-trail'

export interface LifecycleDeps {
  readonly db: Db
  readonly orders: OrdersRepository
  readonly events: EventsRepository
  readonly sale: SaleStateDeps
  readonly log: Logger
  /**
   * `POST /orders/:id/pay` flips the order to paid without money: only with the local payment
   * provider (development, tests, drills). With a real provider the buyer pays through it.
   */
  readonly instantPay?: boolean
}

async function ownOrder (deps: LifecycleDeps, id: number, reader: Reader): Promise<Order> {
  const order = await deps.orders.findById(id)
  if (order === undefined || (order.userId !== reader.userId && !reader.isAdmin)) throw notFound('ORDER_NOT_FOUND', 'order')
  return order
}

export async function getOrder (deps: LifecycleDeps, id: number, reader: Reader): Promise<OrderView> {
  return orderView(await ownOrder(deps, id, reader))
}

/**
 * Simulated payment; paying a paid order again answers the same paid order. Only the buyer pays:
 * an admin may read or cancel a buyer's order (support) but not pay it.
 */
export async function payOrder (deps: LifecycleDeps, id: number, reader: Reader): Promise<OrderView> {
  if (deps.instantPay === false) throw new DomainError('PAY_THROUGH_PROVIDER', 'orders are paid through the payment provider: POST /api/v1/orders/:id/payments')
  const order = await ownOrder(deps, id, reader)
  if (order.userId !== reader.userId) throw new DomainError('FORBIDDEN', 'only the buyer pays an order')
  if (order.status === 'pending_payment') {
    const paid = await deps.db.transaction(async (trx) => await deps.orders.transition(id, 'paid', trx))
    if (!paid) {
      const now = await deps.orders.findById(id) as Order
      if (now.status === 'pending_payment') {
        // The deadline passed (MySQL refused the payment) and the expiry loop has not run yet: expire it now.
        await expireOrder(deps, id)
        throw new DomainError('ORDER_NOT_PAYABLE', 'the payment deadline has passed')
      }
      if (now.status !== 'paid') throw new DomainError('ORDER_NOT_PAYABLE', `the order is ${now.status}`)
    }
  } else if (order.status !== 'paid') {
    throw new DomainError('ORDER_NOT_PAYABLE', `the order is ${order.status}`)
  }
  return orderView(await deps.orders.findById(id) as Order)
}

/** The buyer gives the order up; cancelling a cancelled order answers it again. */
export async function cancelOrder (deps: LifecycleDeps, id: number, reader: Reader, audit?: AuditInTransaction): Promise<OrderView> {
  const order = await ownOrder(deps, id, reader)
  const { after } = await endOrder(deps, order, 'cancelled', audit)
  if (after.status !== 'cancelled') throw new DomainError('ORDER_NOT_CANCELLABLE', `the order is ${after.status}`)
  return orderView(after)
}

/**
 * `expired`: this call expired the order; `not_due`: MySQL says its deadline has not passed, so it
 * is still payable; `settled`: it was paid, cancelled or expired already.
 */
export type ExpiryResult = 'expired' | 'not_due' | 'settled' | 'missing'

/**
 * Expires an order whose deadline has passed by MySQL's clock; anything else is left as it is.
 * Safe to call at any time from any process: the guard is in SQL (`expires_at <= NOW(3)`).
 */
export async function expireOrder (deps: LifecycleDeps, id: number): Promise<ExpiryResult> {
  const order = await deps.orders.findById(id)
  if (order === undefined) return 'missing'
  const { after, ended } = await endOrder(deps, order, 'expired')
  if (ended) return 'expired'
  return after.status === 'pending_payment' ? 'not_due' : 'settled'
}

/**
 * Expires, in one transaction, those of `ids` whose deadline has passed by MySQL's clock (the
 * expiry loop's way: a drain batch's orders share one deadline, and one at a time a worker ended
 * about 250 a second, 1,000 due together in 3.9 s). Each order gets what `endOrder` gives one: the
 * guarded status change, `sold` down by one (never below 0), its return in the outbox, all
 * committed together; then the holders' shards are signalled. Orders another transaction holds
 * are skipped and left to it. Resolves to the ids this call expired.
 */
export async function expireDueOrders (deps: LifecycleDeps, ids: readonly number[]): Promise<number[]> {
  if (ids.length === 0) return []
  const ended = await deps.db.transaction(async (trx) => {
    const expired = await deps.orders.expireDue(ids, trx)
    const byEvent = new Map<number, Array<{ shard: number, ticketId: string, reason: 'expired' }>>()
    for (const o of expired) {
      const list = byEvent.get(o.eventId) ?? []
      list.push({ shard: holderShard(o), ticketId: o.ticketId, reason: 'expired' })
      byEvent.set(o.eventId, list)
    }
    for (const [eventId, returns] of byEvent) {
      await trx('seckill_events').where({ id: eventId }).update({ sold: trx.raw('sold - LEAST(sold, ?)', [returns.length]) })
      await recordReturns(trx, eventId, returns)
    }
    return expired
  })
  if (ended.length === 0) return []
  deps.log.info({ orders: ended.length, events: [...new Set(ended.map((o) => o.eventId))] }, 'orders expired; their units go back to the sale')
  const holders = new Map(ended.map((o) => [`${o.eventId}:${holderShard(o)}`, { eventId: o.eventId, shard: holderShard(o) }]))
  // Best effort: a lost signal is found by the workers' next discovery round.
  await signalReturns(deps.sale, [...holders.values()]).catch((err: unknown) => deps.log.warn({ err, orders: ended.length }, 'signalling returned units failed'))
  return ended.map((o) => o.id)
}

/**
 * Ends an unpaid order inside the caller's transaction (the guarded status change, `sold` down,
 * the unit's return in the outbox); true when this call ended it. The caller calls
 * `unitsReturned` after its commit. Used by the payment flow, which decides a late payment and
 * the order's expiry in one transaction.
 */
export async function endOrderIn (deps: LifecycleDeps, trx: Knex.Transaction, order: Order, to: 'cancelled' | 'expired'): Promise<boolean> {
  if (!await deps.orders.transition(order.id, to, trx)) return false
  await trx('seckill_events').where({ id: order.eventId }).andWhere('sold', '>', 0).decrement('sold', 1)
  await recordReturns(trx, order.eventId, [{ shard: holderShard(order), ticketId: order.ticketId, reason: to }])
  return true
}

/** After the commit that ended an order: tells the shard holding its unit (best effort). */
export async function unitsReturned (deps: LifecycleDeps, order: Order, to: 'cancelled' | 'expired'): Promise<void> {
  deps.log.info({ orderId: order.id, eventId: order.eventId, status: to }, 'order ended; its unit goes back to the sale')
  // Best effort: a lost signal is found by the workers' next discovery round.
  await signalReturns(deps.sale, [{ eventId: order.eventId, shard: holderShard(order) }]).catch((err: unknown) => deps.log.warn({ err, orderId: order.id }, 'signalling a returned unit failed'))
}

/** The shard whose stock holds an order's unit: the one it borrowed from, else its ticket's own. */
function holderShard (o: Pick<Order, 'ticketId' | 'unitShard'>): number {
  return o.unitShard ?? parseTicketId(o.ticketId)?.shard ?? 0
}

/**
 * Ends an unpaid order. The status change, `sold` going down and the unit's return (the outbox)
 * commit together, and only one caller's status change can succeed; the owner of the shard
 * holding the unit then puts it back in the sale (src/stock/unit-returns.ts).
 */
async function endOrder (deps: LifecycleDeps, order: Order, to: 'cancelled' | 'expired', audit?: AuditInTransaction): Promise<{ after: Order, ended: boolean }> {
  let ended = false
  if (order.status === 'pending_payment') {
    ended = await deps.db.transaction(async (trx) => {
      if (!await endOrderIn(deps, trx, order, to)) return false
      await audit?.(trx, String(order.id))
      return true
    })
    if (ended) await unitsReturned(deps, order, to)
  }
  return { after: await deps.orders.findById(order.id) as Order, ended }
}
