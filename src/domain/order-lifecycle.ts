/**
 * What happens to an order after the sale: paid, cancelled by its buyer, or expired at its
 * payment deadline. Cancel and expiry give the unit back to the sale exactly once: `sold` goes down
 * and the return is recorded (unit_returns) in the same transaction as the status change, which
 * only one caller can make; the shard's owner applies the return to Redis, once.
 */
import type { Logger } from 'pino'
import type { Db } from '../db/knex'
import { DomainError, notFound } from './errors'
import type { EventsRepository } from './events'
import type { Order, OrderView, OrdersRepository } from './orders'
import { orderView } from './orders'
import type { SaleStateDeps } from './sale-state'
import { parseTicketId } from './tickets'
import { recordReturns, signalReturns } from './unit-returns'
import type { Reader } from './ticket-reader'

export interface LifecycleDeps {
  readonly db: Db
  readonly orders: OrdersRepository
  readonly events: EventsRepository
  readonly sale: SaleStateDeps
  readonly log: Logger
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
  const order = await ownOrder(deps, id, reader)
  if (order.userId !== reader.userId) throw new DomainError('FORBIDDEN', 'only the buyer pays an order')
  if (order.status === 'pending_payment') {
    const paid = await deps.db.transaction(async (trx) => await deps.orders.transition(id, 'paid', trx))
    if (!paid) {
      const now = await deps.orders.findById(id) as Order
      if (now.status === 'pending_payment') {
        // The deadline passed and the expiry job has not run yet: expire it now.
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
export async function cancelOrder (deps: LifecycleDeps, id: number, reader: Reader): Promise<OrderView> {
  const order = await ownOrder(deps, id, reader)
  const after = await endOrder(deps, order, 'cancelled')
  if (after.status !== 'cancelled') throw new DomainError('ORDER_NOT_CANCELLABLE', `the order is ${after.status}`)
  return orderView(after)
}

export type ExpiryResult = 'expired' | 'not_due' | 'settled' | 'missing'

/** Expires an order whose deadline passed; anything else is left as it is. */
export async function expireOrder (deps: LifecycleDeps, id: number): Promise<ExpiryResult> {
  const order = await deps.orders.findById(id)
  if (order === undefined) return 'missing'
  if (order.status === 'pending_payment' && order.expiresAt !== null && order.expiresAt.getTime() > Date.now()) return 'not_due'
  const after = await endOrder(deps, order, 'expired')
  return after.status === 'expired' ? 'expired' : 'settled'
}

/**
 * Ends an unpaid order. The status change, `sold` going down and the unit's return (the outbox)
 * commit together, and only one caller's status change can succeed; the owner of the shard
 * holding the unit then puts it back in the sale (src/domain/unit-returns.ts).
 */
async function endOrder (deps: LifecycleDeps, order: Order, to: 'cancelled' | 'expired'): Promise<Order> {
  if (order.status === 'pending_payment') {
    const holder = { eventId: order.eventId, shard: order.unitShard ?? parseTicketId(order.ticketId)?.shard ?? 0 }
    const ended = await deps.db.transaction(async (trx) => {
      if (!await deps.orders.transition(order.id, to, trx)) return false
      await trx('seckill_events').where({ id: order.eventId }).andWhere('sold', '>', 0).decrement('sold', 1)
      await recordReturns(trx, order.eventId, [{ shard: holder.shard, ticketId: order.ticketId, reason: to }])
      return true
    })
    if (ended) {
      deps.log.info({ orderId: order.id, eventId: order.eventId, status: to }, 'order ended; its unit goes back to the sale')
      // Best effort: a lost signal is found by the workers' next discovery round.
      await signalReturns(deps.sale, [holder]).catch((err: unknown) => deps.log.warn({ err, orderId: order.id }, 'signalling a returned unit failed'))
    }
  }
  return await deps.orders.findById(order.id) as Order
}
