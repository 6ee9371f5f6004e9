/**
 * The payment provider seam. An adapter (local, Stripe, Alipay) turns the provider's API and its
 * webhooks into these few calls and events; everything that decides an order's fate (paid, a late
 * payment refunded, deduplication, MySQL's clock) lives in payment-flow.ts, once, for all of them.
 * An adapter never touches the orders or payments tables.
 */

export const PAYMENT_PROVIDERS = ['local', 'stripe', 'alipay'] as const
export type ProviderName = typeof PAYMENT_PROVIDERS[number]

export interface CreatePaymentRequest {
  /** Our payments.id: carried in the provider's metadata and its events. */
  readonly paymentId: number
  readonly orderId: number
  readonly amountCents: number
  readonly currency: string
  readonly description: string
  /** Same key, same provider payment (a retried create never makes a second one). */
  readonly idempotencyKey: string
  /** Where the provider sends the buyer back (absolute for real providers). */
  readonly returnUrl: string
}

export interface CreatedPayment {
  /** The provider's id of the payment (a Checkout Session id, an out_trade_no, a local intent id). */
  readonly ref: string
  /** Where the buyer pays. */
  readonly redirectUrl: string
}

/** What the provider says of a payment when asked (reconciliation). */
export type ProviderPaymentState = 'pending' | 'succeeded' | 'failed'

export interface RefundRequest {
  /** Our payment_refunds.id, carried as metadata. */
  readonly refundId: number
  readonly ref: string
  readonly amountCents: number
  readonly totalCents: number
  readonly currency: string
  /** Same key, same refund: a refund retried after a timeout is made once. */
  readonly idempotencyKey: string
}

export interface RefundResult {
  readonly status: 'succeeded' | 'pending' | 'failed'
  readonly providerRef: string
}

/** A verified provider event, in our words. */
export type PaymentEvent =
  | { readonly kind: 'payment_succeeded', readonly eventId: string, readonly ref: string, readonly paymentId?: number, readonly amountCents?: number }
  | { readonly kind: 'payment_failed', readonly eventId: string, readonly ref: string, readonly paymentId?: number }
  | { readonly kind: 'refund_succeeded', readonly eventId: string, readonly ref: string, readonly paymentId?: number, readonly refundId?: number, readonly amountCents?: number }
  /** Verified, but nothing we act on (another event type the endpoint is subscribed to). */
  | { readonly kind: 'ignored', readonly eventId: string, readonly type: string }

/** The raw webhook as it arrived: the body's exact bytes (signatures cover them) and the headers. */
export interface WebhookDelivery {
  readonly body: Buffer
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
}

/** A webhook whose signature, secret or timestamp does not check out. */
export class WebhookSignatureError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'WebhookSignatureError'
  }
}

/** The provider's API failed or refused (network, 5xx, a declined call). */
export class ProviderError extends Error {
  constructor (message: string, override readonly cause?: unknown) {
    super(message)
    this.name = 'ProviderError'
  }
}

export interface PaymentProvider {
  readonly name: ProviderName
  createPayment: (req: CreatePaymentRequest) => Promise<CreatedPayment>
  /** Verifies the signature over the raw body; throws WebhookSignatureError when it fails. */
  verifyWebhook: (delivery: WebhookDelivery) => PaymentEvent
  /** How the webhook is acknowledged (Alipay wants the text `success`). */
  readonly webhookAck: { readonly contentType: string, readonly body: string }
  fetchPayment: (ref: string) => Promise<ProviderPaymentState>
  refund: (req: RefundRequest) => Promise<RefundResult>
  /** Stops what the adapter runs (the local provider's webhook sender). */
  close?: () => Promise<void>
}
