/**
 * Refunds: asked for in a transaction (a row with its own id, the provider's idempotency key), then
 * asked of the provider, then confirmed -- by the provider's answer or its refund webhook, whichever
 * comes first; the other finds it done. A refund the provider did not answer stays `requested` and
 * the reconciler asks again with the same key, so it is made once.
 *
 * What a refund does to the sale's stock: nothing. A refunded order keeps its unit (it stays in
 * `sold`, and is "live" in the operators' sense); the unit is not offered to the crowd again,
 * during the sale or after it. A late payment's order had already given its unit back when it
 * expired or was cancelled, so its refund touches no stock either.
 */
import type { Knex } from 'knex'
import type { AuditInTransaction } from '../../shared/admin-trail'
import { DomainError, notFound } from '../../shared/errors'
import { orderView } from '../orders'
import type { Order, OrderView } from '../orders'
import type { PaymentDeps } from './deps'
import { paymentView } from './payment-view'
import type { PaymentView } from './payment-view'
import type { Payment, Refund } from './payments-repo'

/**
 * Marks a refund succeeded and adds it to its payment; a payment refunded in full becomes
 * `refunded`, and its order, if paid, `refunded`. True when this call settled it.
 */
export async function settleRefundIn (deps: PaymentDeps, trx: Knex.Transaction, refundId: number, providerRef: string): Promise<boolean> {
  const asked = await deps.payments.refundById(refundId, trx)
  if (asked?.status !== 'requested') return false
  // The payment's lock first, then the refund's: the order every payment transaction takes them
  // in (a webhook holds its payment before it gets here), so two settlers wait, never deadlock.
  const payment = await deps.payments.findById(asked.paymentId, trx, true) as Payment
  const refund = await deps.payments.refundById(refundId, trx, true) as Refund
  if (refund.status !== 'requested') return false
  await deps.payments.moveRefund(refund.id, 'requested', 'succeeded', trx, providerRef)
  const refunded = payment.refundedCents + refund.amountCents
  if (refunded >= payment.amountCents) {
    await deps.payments.move(payment.id, ['captured', 'refunding'], 'refunded', trx, { refunded_cents: refunded })
    await deps.lifecycle.orders.markRefunded(payment.orderId, trx)
  } else {
    await trx('payments').where({ id: payment.id }).update({ refunded_cents: refunded, updated_at: trx.raw('CURRENT_TIMESTAMP(3)') })
  }
  return true
}

/**
 * Asks the provider for a recorded refund. Returns the refund's status after the call; a failed
 * call leaves it `requested` (the reconciler retries with the same idempotency key).
 */
export async function executeRefund (deps: PaymentDeps, refund: Refund): Promise<Refund['status']> {
  const payment = await deps.payments.findById(refund.paymentId) as Payment
  if (payment.ref === null) throw new Error(`refund ${refund.id}: payment ${payment.id} has no provider reference`)
  try {
    const result = await deps.provider.refund({
      refundId: refund.id,
      ref: payment.ref,
      amountCents: refund.amountCents,
      totalCents: payment.amountCents,
      currency: payment.currency,
      idempotencyKey: `seckill-refund-${refund.id}`
    })
    if (result.status === 'succeeded') {
      if (await deps.db.transaction(async (trx) => await settleRefundIn(deps, trx, refund.id, result.providerRef))) deps.onOutcome?.('refunded')
      return 'succeeded'
    }
    if (result.status === 'failed') {
      // The provider refuses for good: an operator must act (the payment stays `refunding`/`captured`).
      await deps.db.transaction(async (trx) => await deps.payments.moveRefund(refund.id, 'requested', 'failed', trx, result.providerRef))
      deps.onOutcome?.('refund_failed')
      deps.log.error({ refundId: refund.id, paymentId: payment.id }, 'the provider refused a refund; an operator must settle it')
      return 'failed'
    }
    return 'requested'
  } catch (err) {
    deps.onOutcome?.('refund_retry')
    deps.log.warn({ err: { message: (err as Error).message }, refundId: refund.id }, 'asking the provider for a refund failed; the reconciler retries')
    return 'requested'
  }
}

export interface RefundAnswer {
  readonly order: OrderView
  readonly payment: PaymentView
  readonly refund: { readonly id: string, readonly amount_cents: number, readonly status: Refund['status'] }
}

/**
 * An admin refunds a paid order, whole (the default) or in part. Refused unless the order is paid
 * through a captured payment with that much left to refund. The order becomes `refunded` once the
 * whole amount is confirmed refunded by the provider.
 */
export async function refundOrder (deps: PaymentDeps, orderId: number, opts: { amountCents?: number, actorId: string, audit?: AuditInTransaction }): Promise<RefundAnswer> {
  const refund = await deps.db.transaction(async (trx) => {
    const order = await deps.lifecycle.orders.findById(orderId, trx)
    if (order === undefined) throw notFound('ORDER_NOT_FOUND', 'order')
    const found = await deps.payments.findByOrder(orderId, trx)
    if (found === undefined) throw new DomainError('REFUND_NOT_ALLOWED', 'the order was not paid through the payment provider')
    const payment = await deps.payments.findById(found.id, trx, true) as Payment
    if (payment.status !== 'captured' || order.status !== 'paid') throw new DomainError('REFUND_NOT_ALLOWED', `the order is ${order.status} and its payment ${payment.status}`)
    const asked = (await deps.payments.refundsOf(payment.id, trx)).filter((r) => r.status === 'requested').reduce((n, r) => n + r.amountCents, 0)
    const left = payment.amountCents - payment.refundedCents - asked
    const amount = opts.amountCents ?? left
    if (amount <= 0 || amount > left) throw new DomainError('REFUND_NOT_ALLOWED', `${left} cents are left to refund, asked ${amount}`)
    if (amount === left) await deps.payments.move(payment.id, ['captured'], 'refunding', trx)
    const refund = await deps.payments.insertRefund(trx, { paymentId: payment.id, amountCents: amount, reason: 'admin', actorId: opts.actorId })
    // The audit row commits with the refund it records.
    await opts.audit?.(trx, String(orderId))
    return refund
  })
  const status = await executeRefund(deps, refund)
  return {
    order: orderView(await deps.lifecycle.orders.findById(orderId) as Order),
    payment: paymentView(await deps.payments.findById(refund.paymentId) as Payment),
    refund: { id: String(refund.id), amount_cents: refund.amountCents, status }
  }
}
