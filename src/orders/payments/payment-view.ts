/** What the API shows of a payment. */
import type { Payment } from './payments-repo'

export interface PaymentView {
  readonly id: string
  readonly order_id: string
  readonly provider: string
  readonly status: Payment['status']
  readonly amount_cents: number
  readonly currency: string
  readonly refunded_cents: number
  /** `expired` or `cancelled`: the money came after the order ended; `wrong_amount`: not the price; refunded either way. */
  readonly late: string | null
  readonly redirect_url: string | null
  readonly created_at: string
  readonly captured_at: string | null
}

export function paymentView (p: Payment): PaymentView {
  return {
    id: String(p.id),
    order_id: String(p.orderId),
    provider: p.provider,
    status: p.status,
    amount_cents: p.amountCents,
    currency: p.currency,
    refunded_cents: p.refundedCents,
    late: p.late,
    redirect_url: p.redirectUrl,
    created_at: p.createdAt.toISOString(),
    captured_at: p.capturedAt?.toISOString() ?? null
  }
}
