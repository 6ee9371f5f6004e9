/**
 * Stripe, with the official `stripe` package: a Checkout Session per order (created with the
 * order's payment's idempotency key, so a retried create makes one session), whose `url` is where
 * the buyer pays; webhooks verified by `stripe.webhooks.constructEvent` over the raw body, within
 * its timestamp tolerance; refunds of the session's PaymentIntent, each with its own idempotency
 * key and our refund id in its metadata. Our payment id rides in every object's metadata.
 *
 * Events used: `checkout.session.completed` (paid, when `payment_status` is `paid`),
 * `checkout.session.async_payment_succeeded` / `_failed`, `checkout.session.expired`, and
 * `refund.created` / `refund.updated` with status `succeeded`. Anything else is acknowledged and
 * ignored. A refund made in Stripe's dashboard carries none of our metadata and is ignored here:
 * refund through the admin route.
 */
import Stripe from 'stripe'
import type { CreatePaymentRequest, CreatedPayment, PaymentEvent, PaymentProvider, ProviderPaymentState, RefundRequest, RefundResult, WebhookDelivery } from './provider'
import { ProviderError, WebhookSignatureError } from './provider'

/** Seconds a signed webhook stays acceptable (the SDK's default). */
export const STRIPE_TOLERANCE_S = 300

export interface StripeOptions {
  readonly secretKey: string
  readonly webhookSecret: string
  /** Tests only: the API's address (a local stub). */
  readonly apiUrl?: string
}

interface SessionLike { id: string, url: string | null, payment_status?: string, status?: string, amount_total?: number | null, payment_intent?: string | { id: string } | null, metadata?: Record<string, string> | null }
interface RefundLike { id: string, status?: string | null, amount?: number, metadata?: Record<string, string> | null }

const idOf = (m: Record<string, string> | null | undefined, key: string): number | undefined => {
  const n = Number(m?.[key])
  return Number.isSafeInteger(n) && n > 0 ? n : undefined
}

export function stripeProvider (o: StripeOptions): PaymentProvider {
  const api = o.apiUrl === undefined ? undefined : new URL(o.apiUrl)
  const stripe = new Stripe(o.secretKey, {
    maxNetworkRetries: 2,
    timeout: 10_000,
    telemetry: false,
    ...(api === undefined ? {} : { host: api.hostname, port: api.port, protocol: api.protocol === 'http:' ? 'http' : 'https' })
  })

  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn()
    } catch (err) {
      // The SDK's error carries the request; only its type and message travel on (never the key).
      throw new ProviderError(`stripe ${what}: ${(err as Error).message}`)
    }
  }

  return {
    name: 'stripe',
    webhookAck: { contentType: 'application/json; charset=utf-8', body: '{"received":true}' },

    async createPayment (req: CreatePaymentRequest): Promise<CreatedPayment> {
      const metadata = { payment_id: String(req.paymentId), order_id: String(req.orderId) }
      const session = await call('create session', async () => await stripe.checkout.sessions.create({
        mode: 'payment',
        line_items: [{ quantity: 1, price_data: { currency: req.currency, unit_amount: req.amountCents, product_data: { name: req.description } } }],
        success_url: req.returnUrl,
        cancel_url: req.returnUrl,
        client_reference_id: String(req.orderId),
        metadata,
        payment_intent_data: { metadata }
      }, { idempotencyKey: req.idempotencyKey })) as unknown as SessionLike
      if (session.url === null) throw new ProviderError('stripe create session: no url')
      return { ref: session.id, redirectUrl: session.url }
    },

    verifyWebhook (d: WebhookDelivery): PaymentEvent {
      const header = d.headers['stripe-signature']
      if (typeof header !== 'string') throw new WebhookSignatureError('no Stripe-Signature header')
      let event: Stripe.Event
      try {
        event = stripe.webhooks.constructEvent(d.body, header, o.webhookSecret, STRIPE_TOLERANCE_S)
      } catch (err) {
        throw new WebhookSignatureError((err as Error).message.split('\n')[0] ?? 'signature check failed')
      }
      const obj = event.data.object as unknown
      switch (event.type) {
        case 'checkout.session.completed':
        case 'checkout.session.async_payment_succeeded': {
          const s = obj as SessionLike
          if (s.payment_status !== 'paid') return { kind: 'ignored', eventId: event.id, type: `${event.type}:${String(s.payment_status)}` }
          return { kind: 'payment_succeeded', eventId: event.id, ref: s.id, paymentId: idOf(s.metadata, 'payment_id'), amountCents: s.amount_total ?? undefined }
        }
        case 'checkout.session.async_payment_failed':
        case 'checkout.session.expired': {
          const s = obj as SessionLike
          return { kind: 'payment_failed', eventId: event.id, ref: s.id, paymentId: idOf(s.metadata, 'payment_id') }
        }
        case 'refund.created':
        case 'refund.updated': {
          const r = obj as RefundLike
          const session = r.metadata?.session
          if (r.status !== 'succeeded' || session === undefined) return { kind: 'ignored', eventId: event.id, type: `${event.type}:${String(r.status)}` }
          return { kind: 'refund_succeeded', eventId: event.id, ref: session, paymentId: idOf(r.metadata, 'payment_id'), refundId: idOf(r.metadata, 'refund_id'), amountCents: r.amount }
        }
        default:
          return { kind: 'ignored', eventId: event.id, type: event.type }
      }
    },

    async fetchPayment (ref: string): Promise<ProviderPaymentState> {
      const s = await call('retrieve session', async () => await stripe.checkout.sessions.retrieve(ref)) as unknown as SessionLike
      if (s.payment_status === 'paid' || s.payment_status === 'no_payment_required') return 'succeeded'
      return s.status === 'expired' ? 'failed' : 'pending'
    },

    async refund (req: RefundRequest): Promise<RefundResult> {
      const s = await call('retrieve session', async () => await stripe.checkout.sessions.retrieve(req.ref)) as unknown as SessionLike
      const intent = typeof s.payment_intent === 'string' ? s.payment_intent : s.payment_intent?.id
      if (intent === undefined) throw new ProviderError(`stripe refund: session ${req.ref} has no payment intent`)
      const r = await call('create refund', async () => await stripe.refunds.create({
        payment_intent: intent,
        amount: req.amountCents,
        metadata: { refund_id: String(req.refundId), session: req.ref, payment_id: String(s.metadata?.payment_id ?? '') }
      }, { idempotencyKey: req.idempotencyKey })) as unknown as RefundLike
      const status = r.status === 'succeeded' ? 'succeeded' : r.status === 'failed' || r.status === 'canceled' ? 'failed' : 'pending'
      return { status, providerRef: r.id }
    }
  }
}
