/**
 * Payment routes: the buyer asks where to pay (`POST /orders/:id/payments`, idempotent per order)
 * and reads a payment; the provider's webhook (raw body, signature verified, no token: the
 * signature is the credential); an admin refunds a paid order (audited). Routes only map
 * requests; the decisions are in src/orders/payments/.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Knex } from 'knex'
import { auditAdminWrites, auditedBy } from '../admin-trail'
import type { AuditHookOptions } from '../admin-trail'
import type { Authenticator } from '../auth'
import { userOf } from '../auth'
import { applyEvent, getPayment, PAYMENT_STATUSES, refundOrder, startPayment, WebhookSignatureError } from '../../orders'
import type { PaymentDeps } from '../../orders'
import { DomainError } from '../../shared/errors'
import { commonErrors, errorSchema, ok, okSchema } from '../envelope'
import type { JsonSchema } from '../envelope'
import { checkIdempotencyKey, idParams } from '../schemas'
import { orderSchema } from './orders'

export const paymentSchema: JsonSchema = {
  type: 'object',
  required: ['id', 'order_id', 'provider', 'status', 'amount_cents', 'currency', 'refunded_cents', 'late', 'redirect_url', 'created_at', 'captured_at'],
  properties: {
    id: { type: 'string' },
    order_id: { type: 'string' },
    provider: { type: 'string' },
    status: { type: 'string', enum: PAYMENT_STATUSES },
    amount_cents: { type: 'integer' },
    currency: { type: 'string' },
    refunded_cents: { type: 'integer' },
    late: { type: ['string', 'null'], description: 'expired or cancelled: the money came after the order ended and is refunded' },
    redirect_url: { type: ['string', 'null'], description: 'where the buyer pays' },
    created_at: { type: 'string' },
    captured_at: { type: ['string', 'null'] }
  }
}

const reader = (r: FastifyRequest): { userId: string, isAdmin: boolean } => {
  const u = userOf(r)
  return { userId: u.id, isAdmin: u.role === 'admin' }
}

/** The buyer's side: start (or find) the order's payment, read a payment. */
export async function paymentRoutes (app: FastifyInstance, opts: { payments: PaymentDeps, auth: Authenticator }): Promise<void> {
  app.addHook('onRequest', opts.auth.required)
  app.post<{ Params: { id: string } }>('/orders/:id/payments', {
    schema: { params: idParams, response: { 200: okSchema(paymentSchema), 502: errorSchema, ...commonErrors } }
  }, async (request) => {
    checkIdempotencyKey(request.headers['idempotency-key'])
    return ok(await startPayment(opts.payments, Number(request.params.id), reader(request)))
  })
  app.get<{ Params: { id: string } }>('/payments/:id', {
    schema: { params: idParams, response: { 200: okSchema(paymentSchema), ...commonErrors } }
  }, async (request) => ok(await getPayment(opts.payments, Number(request.params.id), reader(request))))
}

/** Largest webhook body read (Stripe's events are a few KB). */
const WEBHOOK_BODY_LIMIT = 256 * 1024

/**
 * The configured provider's webhook: `POST /payments/webhooks/<provider>`. The body is kept as
 * the exact bytes that arrived (any content type), since the signature covers them. A bad
 * signature is 400 WEBHOOK_SIGNATURE_INVALID (a security event) and changes nothing.
 */
export async function webhookRoutes (app: FastifyInstance, opts: { payments: PaymentDeps }): Promise<void> {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT }, (_request, body, done) => { done(null, body) })
  const provider = opts.payments.provider
  app.post(`/payments/webhooks/${provider.name}`, {
    schema: { hide: false, response: { 400: errorSchema, 500: errorSchema, 503: errorSchema } }
  }, async (request, reply) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
    let event
    try {
      event = provider.verifyWebhook({ body, headers: request.headers })
    } catch (err) {
      if (err instanceof WebhookSignatureError) throw new DomainError('WEBHOOK_SIGNATURE_INVALID', `webhook refused: ${err.message}`)
      throw err
    }
    const outcome = await applyEvent(opts.payments, event)
    request.log.debug({ event_id: event.eventId, kind: event.kind, outcome }, 'payment webhook')
    return await reply.type(provider.webhookAck.contentType).send(provider.webhookAck.body)
  })
}

interface RefundBody { amount_cents?: number, reason?: string }

/** `POST /admin/orders/:id/refund`: admins only, audited (`order.refund`). */
export async function adminPaymentRoutes (app: FastifyInstance, opts: { payments: PaymentDeps, auth: Authenticator, db: Knex, onAudited?: AuditHookOptions['onAudited'] }): Promise<void> {
  app.addHook('onRequest', opts.auth.admin)
  app.addHook('onSend', auditAdminWrites(opts.db, { onAudited: opts.onAudited, denied: true }))
  app.post<{ Params: { id: string }, Body: RefundBody | undefined }>('/orders/:id/refund', {
    config: { audit: { action: 'order.refund', target: 'order' } },
    schema: {
      params: idParams,
      body: {
        type: ['object', 'null'],
        additionalProperties: false,
        properties: {
          amount_cents: { type: 'integer', minimum: 1, maximum: 1_000_000_000, description: 'part of the payment to refund; the whole rest when absent' },
          reason: { type: 'string', maxLength: 200 }
        }
      },
      response: {
        200: okSchema({
          type: 'object',
          required: ['order', 'payment', 'refund'],
          properties: {
            order: orderSchema,
            payment: paymentSchema,
            refund: { type: 'object', required: ['id', 'amount_cents', 'status'], properties: { id: { type: 'string' }, amount_cents: { type: 'integer' }, status: { type: 'string' } } }
          }
        }),
        ...commonErrors
      }
    }
  }, async (request) => ok(await refundOrder(opts.payments, Number(request.params.id), { amountCents: request.body?.amount_cents, actorId: userOf(request).id, audit: auditedBy(request) })))
}
