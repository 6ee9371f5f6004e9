/**
 * The payments tables: `payments` (one per order), `payment_refunds`, `payment_events` (the
 * provider's event ids already handled). Every status change is a compare-and-set; methods take
 * the caller's transaction where the flow needs one.
 */
import type { Knex } from 'knex'
import type { Db } from '../../db/knex'
import type { ProviderName } from './provider'

export const PAYMENT_STATUSES = ['pending', 'failed', 'captured', 'refunding', 'refunded'] as const
export type PaymentStatus = typeof PAYMENT_STATUSES[number]
export type RefundReason = 'late' | 'admin'
export type RefundStatus = 'requested' | 'succeeded' | 'failed'

const NOW = 'CURRENT_TIMESTAMP(3)'

export interface Payment {
  readonly id: number
  readonly orderId: number
  readonly provider: ProviderName
  readonly ref: string | null
  readonly amountCents: number
  readonly currency: string
  readonly status: PaymentStatus
  readonly refundedCents: number
  /** `expired` / `cancelled`: the money came after the order ended, and was refunded. */
  readonly late: string | null
  readonly redirectUrl: string | null
  readonly createdAt: Date
  readonly updatedAt: Date
  readonly capturedAt: Date | null
}

export interface Refund {
  readonly id: number
  readonly paymentId: number
  readonly amountCents: number
  readonly reason: RefundReason
  readonly status: RefundStatus
}

interface PaymentRow {
  id: number | string
  order_id: number | string
  provider: ProviderName
  provider_ref: string | null
  amount_cents: number
  currency: string
  status: PaymentStatus
  refunded_cents: number
  late: string | null
  redirect_url: string | null
  created_at: Date
  updated_at: Date
  captured_at: Date | null
}

function toPayment (r: PaymentRow): Payment {
  return {
    id: Number(r.id),
    orderId: Number(r.order_id),
    provider: r.provider,
    ref: r.provider_ref,
    amountCents: r.amount_cents,
    currency: r.currency,
    status: r.status,
    refundedCents: r.refunded_cents,
    late: r.late,
    redirectUrl: r.redirect_url,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    capturedAt: r.captured_at
  }
}

function toRefund (r: { id: number | string, payment_id: number | string, amount_cents: number, reason: RefundReason, status: RefundStatus }): Refund {
  return { id: Number(r.id), paymentId: Number(r.payment_id), amountCents: r.amount_cents, reason: r.reason, status: r.status }
}

export function paymentsRepository (db: Db) {
  const q = (trx?: Knex.Transaction): Knex => trx ?? db
  return {
    async findById (id: number, trx?: Knex.Transaction, lock = false): Promise<Payment | undefined> {
      const query = q(trx)('payments').first('*').where({ id })
      if (lock) query.forUpdate()
      const row = await query as PaymentRow | undefined
      return row === undefined ? undefined : toPayment(row)
    },

    async findByOrder (orderId: number, trx?: Knex.Transaction): Promise<Payment | undefined> {
      const row = await q(trx)('payments').first('*').where({ order_id: orderId }) as PaymentRow | undefined
      return row === undefined ? undefined : toPayment(row)
    },

    async findByRef (provider: ProviderName, ref: string, trx?: Knex.Transaction): Promise<Payment | undefined> {
      const row = await q(trx)('payments').first('*').where({ provider, provider_ref: ref }) as PaymentRow | undefined
      return row === undefined ? undefined : toPayment(row)
    },

    /** The order's payment row, created if missing (one per order: the unique key decides a race). */
    async ensure (p: { orderId: number, provider: ProviderName, amountCents: number, currency: string }): Promise<Payment> {
      await db('payments').insert({ order_id: p.orderId, provider: p.provider, amount_cents: p.amountCents, currency: p.currency }).onConflict('order_id').ignore()
      return await this.findByOrder(p.orderId) as Payment
    },

    async setProviderPayment (id: number, ref: string, redirectUrl: string): Promise<void> {
      await db('payments').where({ id }).whereNull('provider_ref').update({ provider_ref: ref, redirect_url: redirectUrl, updated_at: db.raw(NOW) })
    },

    /** Compare-and-set of a payment's status; true when this call changed it. */
    async move (id: number, from: readonly PaymentStatus[], to: PaymentStatus, trx: Knex.Transaction, extra: Record<string, unknown> = {}): Promise<boolean> {
      const changes: Record<string, unknown> = { status: to, updated_at: trx.raw(NOW), ...extra }
      if (to === 'captured') changes.captured_at = trx.raw(NOW)
      return (await trx('payments').where({ id }).whereIn('status', from).update(changes)) === 1
    },

    /**
     * Records a provider event as handled; false when it was handled before (or is being handled
     * now by another transaction, which this insert waits for: eight deliveries at once, one acts).
     */
    async recordEvent (trx: Knex.Transaction, e: { provider: ProviderName, eventId: string, kind: string, paymentId: number | null, outcome: string }): Promise<boolean> {
      const inserted = await trx.raw('INSERT IGNORE INTO payment_events (provider, event_id, kind, payment_id, outcome) VALUES (?, ?, ?, ?, ?)',
        [e.provider, e.eventId.slice(0, 191), e.kind, e.paymentId, e.outcome]) as [{ affectedRows: number }]
      return inserted[0].affectedRows === 1
    },

    async setEventOutcome (trx: Knex.Transaction, provider: ProviderName, eventId: string, outcome: string): Promise<void> {
      await trx('payment_events').where({ provider, event_id: eventId.slice(0, 191) }).update({ outcome })
    },

    async insertRefund (trx: Knex.Transaction, r: { paymentId: number, amountCents: number, reason: RefundReason, actorId: string | null }): Promise<Refund> {
      const [id] = await trx('payment_refunds').insert({ payment_id: r.paymentId, amount_cents: r.amountCents, reason: r.reason, actor_id: r.actorId })
      return { id: Number(id), paymentId: r.paymentId, amountCents: r.amountCents, reason: r.reason, status: 'requested' }
    },

    async refundById (id: number, trx?: Knex.Transaction, lock = false): Promise<Refund | undefined> {
      const query = q(trx)('payment_refunds').first('id', 'payment_id', 'amount_cents', 'reason', 'status').where({ id })
      if (lock) query.forUpdate()
      const row = await query
      return row === undefined ? undefined : toRefund(row)
    },

    async refundsOf (paymentId: number, trx?: Knex.Transaction): Promise<Refund[]> {
      const rows = await q(trx)('payment_refunds').select('id', 'payment_id', 'amount_cents', 'reason', 'status').where({ payment_id: paymentId }).orderBy('id')
      return rows.map(toRefund)
    },

    async moveRefund (id: number, from: RefundStatus, to: RefundStatus, trx: Knex.Transaction, providerRef?: string): Promise<boolean> {
      const changes: Record<string, unknown> = { status: to, updated_at: trx.raw(NOW) }
      if (providerRef !== undefined) changes.provider_ref = providerRef
      return (await trx('payment_refunds').where({ id, status: from }).update(changes)) === 1
    },

    /** Payments the provider has not answered for in `olderThanMs`, by MySQL's clock (reconciliation). */
    async stalePending (olderThanMs: number, limit: number): Promise<Payment[]> {
      const rows = await db('payments').select('*').whereIn('status', ['pending', 'failed']).whereNotNull('provider_ref')
        .andWhere('updated_at', '<=', db.raw(`${NOW} - INTERVAL ? MICROSECOND`, [olderThanMs * 1000])).orderBy('updated_at').limit(limit) as PaymentRow[]
      return rows.map(toPayment)
    },

    /** Refunds asked for and not confirmed in `olderThanMs` (the provider call failed or is slow). */
    async staleRefunds (olderThanMs: number, limit: number): Promise<Refund[]> {
      const rows = await db('payment_refunds').select('id', 'payment_id', 'amount_cents', 'reason', 'status').where({ status: 'requested' })
        .andWhere('updated_at', '<=', db.raw(`${NOW} - INTERVAL ? MICROSECOND`, [olderThanMs * 1000])).orderBy('updated_at').limit(limit)
      return rows.map(toRefund)
    },

    /** Touches a payment so the reconciler asks about it again only after another interval. */
    async touch (ids: readonly number[]): Promise<void> {
      if (ids.length > 0) await db('payments').whereIn('id', ids).update({ updated_at: db.raw(NOW) })
    },

    async touchRefunds (ids: readonly number[]): Promise<void> {
      if (ids.length > 0) await db('payment_refunds').whereIn('id', ids).update({ updated_at: db.raw(NOW) })
    },

    async countByStatus (): Promise<Record<PaymentStatus, number>> {
      const rows = await db('payments').select('status').count({ n: '*' }).groupBy('status') as Array<{ status: PaymentStatus, n: number | string }>
      const out: Record<PaymentStatus, number> = { pending: 0, failed: 0, captured: 0, refunding: 0, refunded: 0 }
      for (const r of rows) out[r.status] = Number(r.n)
      return out
    }
  }
}
export type PaymentsRepository = ReturnType<typeof paymentsRepository>
