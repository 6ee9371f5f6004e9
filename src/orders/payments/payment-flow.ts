/**
 * The path of a payment, the same for every provider: the buyer asks where to pay (one provider
 * payment per order, however often asked), the provider's verified event turns the order `paid`
 * once, and money that arrives after the order ended goes back automatically.
 *
 * Every decision is MySQL's, inside one transaction per provider event: the event id is recorded
 * first (a duplicate, even eight at once, waits for the first and then does nothing), the payment
 * row is locked, and the order is paid with its compare-and-set guarded by `expires_at > NOW(3)`
 * (orders.ts `transition`). When that guard refuses -- the order expired, was cancelled, or its
 * deadline passed on MySQL's clock a moment ago -- the order is ended (if it was not yet), the
 * payment is marked late and a refund for the whole amount is recorded and audited, all in the
 * same commit; the refund is asked of the provider after it (refunds.ts), and retried by the
 * reconciler until the provider confirms it. A payment the provider says succeeded after we
 * recorded it refunded does nothing.
 */
import type { Db } from '../../db/knex'
import { recordAudit } from '../../shared/admin-trail'
import { DomainError, notFound } from '../../shared/errors'
import type { PaymentDeps } from './deps'
import { endOrderIn, expireOrder, unitsReturned } from '../order-lifecycle'
import type { Order } from '../orders'
import type { Reader } from '../../shared/reader'
import type { Payment, Refund } from './payments-repo'
import { paymentView } from './payment-view'
export { paymentView } from './payment-view'
export type { PaymentView } from './payment-view'
import type { PaymentView } from './payment-view'
import type { PaymentEvent } from './provider'
import { ProviderError } from './provider'
import { executeRefund, settleRefundIn } from './refunds'

/**
 * Where the buyer pays for an order: its one payment, created at the provider on the first call
 * (with an idempotency key, so two calls at once make one provider payment). Only the buyer; an
 * order that is not payable (MySQL's clock) is refused, and expired if its deadline passed.
 */
export async function startPayment (deps: PaymentDeps, orderId: number, reader: Reader): Promise<PaymentView> {
  const order = await deps.lifecycle.orders.findById(orderId)
  if (order === undefined || order.userId !== reader.userId) throw notFound('ORDER_NOT_FOUND', 'order')
  const existing = await deps.payments.findByOrder(orderId)
  if (order.status !== 'pending_payment') {
    // A payment that took money is shown again; one still open is not offered once the order
    // ended (as past the deadline below), whether or not the expiry loop has run yet.
    if (existing !== undefined && existing.ref !== null && existing.status !== 'pending' && existing.status !== 'failed') return paymentView(existing)
    throw new DomainError('ORDER_NOT_PAYABLE', `the order is ${order.status}`)
  }
  const [row] = await deps.db.raw('SELECT expires_at IS NULL OR expires_at > CURRENT_TIMESTAMP(3) AS payable FROM orders WHERE id = ?', [orderId]) as [Array<{ payable: number }>]
  if (Number(row[0]?.payable) !== 1) {
    await expireOrder(deps.lifecycle, orderId)
    throw new DomainError('ORDER_NOT_PAYABLE', 'the payment deadline has passed')
  }
  const payment = existing ?? await deps.payments.ensure({ orderId, provider: deps.provider.name, amountCents: order.priceCents, currency: deps.currency })
  if (payment.ref !== null) return paymentView(payment)
  let created
  try {
    created = await deps.provider.createPayment({
      paymentId: payment.id,
      orderId,
      amountCents: payment.amountCents,
      currency: payment.currency,
      description: `Order ${orderId}`,
      idempotencyKey: `seckill-payment-${payment.id}`,
      returnUrl: deps.returnUrl(orderId, payment.id)
    })
  } catch (err) {
    deps.log.warn({ err: err instanceof ProviderError ? { message: err.message } : err, orderId }, 'creating a payment at the provider failed')
    throw new DomainError('PAYMENT_PROVIDER_UNAVAILABLE', 'the payment provider did not answer; try again')
  }
  await deps.payments.setProviderPayment(payment.id, created.ref, created.redirectUrl)
  deps.onOutcome?.('created')
  return paymentView(await deps.payments.findById(payment.id) as Payment)
}

/** A payment as its buyer (or an admin) sees it. */
export async function getPayment (deps: PaymentDeps, id: number, reader: Reader): Promise<PaymentView> {
  const payment = await deps.payments.findById(id)
  if (payment === undefined) throw notFound('PAYMENT_NOT_FOUND', 'payment')
  if (!reader.isAdmin) {
    const order = await deps.lifecycle.orders.findById(payment.orderId)
    if (order?.userId !== reader.userId) throw notFound('PAYMENT_NOT_FOUND', 'payment')
  }
  return paymentView(payment)
}

/** What applying one provider event did. */
export type EventOutcome = 'paid' | 'late_refund' | 'failed' | 'refunded' | 'duplicate' | 'already_settled' | 'unknown_payment' | 'ignored'

/**
 * Applies one verified provider event (a webhook's, or the reconciler's own finding), once per
 * event id. Safe under any interleaving with other events, the expiry loop, a cancel or a refund.
 */
export async function applyEvent (deps: PaymentDeps, event: PaymentEvent): Promise<EventOutcome> {
  const provider = deps.provider.name
  let late: { refund: Refund, ended?: Order } | undefined
  const outcome = await deps.db.transaction(async (trx): Promise<EventOutcome> => {
    if (event.kind === 'ignored') {
      return await deps.payments.recordEvent(trx, { provider, eventId: event.eventId, kind: event.type.slice(0, 32), paymentId: null, outcome: 'ignored' }) ? 'ignored' : 'duplicate'
    }
    const found = await deps.payments.findByRef(provider, event.ref, trx) ??
      (event.paymentId !== undefined ? await deps.payments.findById(event.paymentId, trx) : undefined)
    // The event names one payment: its ref and (when it carries it) our id must agree.
    const payment = found !== undefined && (event.paymentId === undefined || event.paymentId === found.id) ? found : undefined
    if (!await deps.payments.recordEvent(trx, { provider, eventId: event.eventId, kind: event.kind, paymentId: payment?.id ?? null, outcome: 'pending' })) return 'duplicate'
    let result: EventOutcome
    if (payment === undefined) {
      result = 'unknown_payment'
    } else {
      const locked = await deps.payments.findById(payment.id, trx, true) as Payment
      if (event.kind === 'payment_failed') {
        result = await deps.payments.move(locked.id, ['pending'], 'failed', trx) ? 'failed' : 'already_settled'
      } else if (event.kind === 'refund_succeeded') {
        result = await refundConfirmed(deps, trx, locked, event.refundId, event.ref) ? 'refunded' : 'already_settled'
      } else if (locked.status !== 'pending' && locked.status !== 'failed') {
        // Captured before, or refunded before this (a refund webhook ahead of the paid one): nothing.
        result = 'already_settled'
      } else if (event.amountCents !== undefined && event.amountCents !== locked.amountCents) {
        // Not the price asked (a provider-side change): it pays nothing; what was taken goes back.
        late = await lateRefund(deps, trx, locked, { why: 'wrong_amount', takenCents: event.amountCents })
        result = 'late_refund'
      } else if (await deps.lifecycle.orders.transition(locked.orderId, 'paid', trx)) {
        await deps.payments.move(locked.id, ['pending', 'failed'], 'captured', trx)
        result = 'paid'
      } else {
        late = await lateRefund(deps, trx, locked)
        result = 'late_refund'
      }
    }
    await deps.payments.setEventOutcome(trx, provider, event.eventId, result)
    return result
  })
  deps.onOutcome?.(outcome)
  if (outcome === 'unknown_payment') deps.log.warn({ provider, event_id: event.eventId }, 'payment event for a payment we do not know; recorded, nothing changed')
  if (late !== undefined) {
    if (late.ended !== undefined) await unitsReturned(deps.lifecycle, late.ended, 'expired')
    await executeRefund(deps, late.refund)
  }
  return outcome
}

/**
 * Money captured for an order that cannot be paid any more (MySQL's guard refused): end the order
 * if its deadline passed and the expiry loop has not yet, mark the payment late, record the whole
 * refund and audit it -- in the caller's transaction.
 */
async function lateRefund (deps: PaymentDeps, trx: Parameters<Parameters<Db['transaction']>[0]>[0], payment: Payment, wrong?: { why: 'wrong_amount', takenCents: number }): Promise<{ refund: Refund, ended?: Order }> {
  const order = await deps.lifecycle.orders.findById(payment.orderId, trx, true) as Order
  let ended: Order | undefined
  let status: string = order.status
  if (order.status === 'pending_payment' && await endOrderIn(deps.lifecycle, trx, order, 'expired')) {
    ended = order
    status = 'expired'
  }
  // A wrong amount: the payment records what the provider took, and exactly that goes back.
  const taken = wrong?.takenCents ?? payment.amountCents
  await deps.payments.move(payment.id, ['pending', 'failed'], 'refunding', trx, { late: wrong?.why ?? status, amount_cents: taken })
  const refund = await deps.payments.insertRefund(trx, { paymentId: payment.id, amountCents: taken, reason: 'late', actorId: null })
  await recordAudit(trx, {
    actorId: null,
    action: 'payment.late_refund',
    targetType: 'order',
    targetId: String(order.id),
    detail: { payment_id: String(payment.id), refund_id: String(refund.id), order_status: order.status, late: wrong?.why ?? status, amount_cents: taken, provider: payment.provider }
  })
  deps.log.warn({ orderId: order.id, paymentId: payment.id, orderStatus: status }, 'payment captured after the order ended; refunding it')
  return { refund, ended }
}

/**
 * The provider says money went back. Our refund (its id known): settled as refunds.ts does. A
 * refund made at the provider without us (its dashboard): the whole payment is refunded, and a
 * paid order becomes `refunded`.
 */
async function refundConfirmed (deps: PaymentDeps, trx: Parameters<Parameters<Db['transaction']>[0]>[0], payment: Payment, refundId: number | undefined, providerRef: string): Promise<boolean> {
  if (refundId !== undefined) {
    const refund = await deps.payments.refundById(refundId, trx)
    if (refund !== undefined && refund.paymentId === payment.id) return await settleRefundIn(deps, trx, refundId, providerRef)
  }
  if (payment.status === 'refunded') return false
  await deps.payments.move(payment.id, ['pending', 'failed', 'captured', 'refunding'], 'refunded', trx, { refunded_cents: payment.amountCents })
  await deps.lifecycle.orders.markRefunded(payment.orderId, trx)
  return true
}
