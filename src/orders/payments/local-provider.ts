/**
 * The local provider: a payment provider the service runs itself, so `npm start` and the tests need
 * nothing else. It keeps its own books (`local_pay_intents`, `local_pay_refunds`, never our
 * orders or payments), shows the buyer a page with Approve and Decline (src/http/routes/
 * local-pay.ts), and tells the service what happened the way real providers do: a signed webhook
 * (local-signature.ts), posted to the service's webhook route, retried with back-off until it is
 * acknowledged. Like a real provider it can be slow, lose a webhook or send one twice; drills turn
 * that up (LOCAL_PAY_DELAY_MS, LOCAL_PAY_DROP_RATE, LOCAL_PAY_REPEAT_RATE). Webhooks waiting to be
 * sent live in this process: one lost with it is found by the reconciler, as a dropped one is.
 */
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from 'pino'
import type { Db } from '../../db/knex'
import { LOCAL_SIGNATURE_HEADER, signLocal, verifyLocal } from './local-signature'
import type { CreatePaymentRequest, CreatedPayment, PaymentEvent, PaymentProvider, ProviderPaymentState, RefundRequest, RefundResult, WebhookDelivery } from './provider'
import { WebhookSignatureError } from './provider'

export interface LocalFaults {
  readonly maxDelayMs: number
  readonly dropRate: number
  readonly repeatRate: number
}

export interface LocalProviderOptions {
  readonly db: Db
  readonly secret: string
  /** Where webhooks go; undefined until the ingress listens (a worker-only process sends none). */
  readonly webhookUrl: () => string | undefined
  readonly faults: LocalFaults
  readonly log: Logger
  readonly random?: () => number
}

export interface LocalIntent {
  readonly id: string
  readonly amountCents: number
  readonly currency: string
  readonly description: string
  readonly status: 'requires_action' | 'succeeded' | 'failed'
  readonly refundedCents: number
  readonly returnUrl: string
}

interface LocalEventBody {
  id: string
  type: 'payment.succeeded' | 'payment.failed' | 'refund.succeeded'
  created: number
  data: { intent: string, payment_id: string, amount_cents: number, refund_id?: string }
}

/** Attempts per webhook copy, and the back-off between them (doubling, capped). */
const ATTEMPTS = 8
const FIRST_BACKOFF_MS = 250
const MAX_BACKOFF_MS = 5000

export interface LocalProvider extends PaymentProvider {
  /** The buyer approved on the provider's page; resolves to the intent (undefined: no such intent). */
  approve: (id: string) => Promise<LocalIntent | undefined>
  decline: (id: string) => Promise<LocalIntent | undefined>
  intent: (id: string) => Promise<LocalIntent | undefined>
  /** Webhook copies not yet acknowledged (tests wait for 0). */
  readonly sending: number
}

export function localProvider (o: LocalProviderOptions): LocalProvider {
  const random = o.random ?? Math.random
  const inFlight = new Set<Promise<void>>()
  const abort = new AbortController()
  let sending = 0

  const delay = async (): Promise<void> => {
    if (o.faults.maxDelayMs > 0) await sleep(Math.floor(random() * o.faults.maxDelayMs), undefined, { signal: abort.signal }).catch(() => {})
  }

  const readIntent = async (id: string): Promise<LocalIntent | undefined> => {
    const r = await o.db('local_pay_intents').first('*').where({ id })
    if (r === undefined) return undefined
    return { id: r.id, amountCents: r.amount_cents, currency: r.currency, description: r.description, status: r.status, refundedCents: r.refunded_cents, returnUrl: r.return_url }
  }

  const paymentIdOf = async (intent: string): Promise<string> => (await o.db('local_pay_intents').first('payment_id').where({ id: intent }) as { payment_id: string }).payment_id

  /** Posts one copy of an event, retrying until acknowledged or out of attempts. */
  const post = async (body: string, eventId: string): Promise<void> => {
    await delay()
    for (let attempt = 1; attempt <= ATTEMPTS && !abort.signal.aborted; attempt++) {
      const url = o.webhookUrl()
      if (url === undefined) return
      try {
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', [LOCAL_SIGNATURE_HEADER]: signLocal(o.secret, body) }, body, signal: abort.signal })
        await res.arrayBuffer()
        if (res.ok) return
        o.log.warn({ event_id: eventId, status: res.status, attempt }, 'local provider: webhook refused; retrying')
      } catch (err) {
        if (abort.signal.aborted) return
        o.log.warn({ event_id: eventId, err: { message: (err as Error).message }, attempt }, 'local provider: webhook not delivered; retrying')
      }
      await sleep(Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (attempt - 1)), undefined, { signal: abort.signal }).catch(() => {})
    }
  }

  const emit = (type: LocalEventBody['type'], data: LocalEventBody['data']): void => {
    const event: LocalEventBody = { id: `evt_${randomBytes(12).toString('hex')}`, type, created: Math.floor(Date.now() / 1000), data }
    if (random() < o.faults.dropRate) {
      o.log.debug({ event_id: event.id, type }, 'local provider: webhook dropped (fault)')
      return
    }
    const copies = random() < o.faults.repeatRate ? 2 : 1
    const body = JSON.stringify(event)
    for (let i = 0; i < copies; i++) {
      sending++
      const p = post(body, event.id).finally(() => { sending--; inFlight.delete(p) })
      inFlight.add(p)
    }
  }

  return {
    name: 'local',
    webhookAck: { contentType: 'application/json; charset=utf-8', body: '{"received":true}' },
    get sending () { return sending },

    async createPayment (req: CreatePaymentRequest): Promise<CreatedPayment> {
      await delay()
      const id = `lpi_${randomBytes(12).toString('hex')}`
      await o.db('local_pay_intents').insert({
        id,
        idempotency_key: req.idempotencyKey,
        amount_cents: req.amountCents,
        currency: req.currency,
        payment_id: String(req.paymentId),
        description: req.description.slice(0, 200),
        return_url: req.returnUrl
      }).onConflict('idempotency_key').ignore()
      const row = await o.db('local_pay_intents').first('id').where({ idempotency_key: req.idempotencyKey }) as { id: string }
      return { ref: row.id, redirectUrl: `/pay/local/${row.id}` }
    },

    verifyWebhook (d: WebhookDelivery): PaymentEvent {
      verifyLocal(o.secret, d.body, d.headers[LOCAL_SIGNATURE_HEADER])
      let e: LocalEventBody
      try {
        e = JSON.parse(d.body.toString('utf8')) as LocalEventBody
      } catch {
        throw new WebhookSignatureError('signed body is not JSON')
      }
      const paymentId = Number(e.data?.payment_id)
      const base = { eventId: String(e.id), ref: String(e.data?.intent), paymentId: Number.isSafeInteger(paymentId) ? paymentId : undefined }
      if (e.type === 'payment.succeeded') return { kind: 'payment_succeeded', ...base, amountCents: e.data.amount_cents }
      if (e.type === 'payment.failed') return { kind: 'payment_failed', ...base }
      if (e.type === 'refund.succeeded') return { kind: 'refund_succeeded', ...base, refundId: e.data.refund_id === undefined ? undefined : Number(e.data.refund_id), amountCents: e.data.amount_cents }
      return { kind: 'ignored', eventId: String(e.id), type: String(e.type) }
    },

    async fetchPayment (ref: string): Promise<ProviderPaymentState> {
      await delay()
      const i = await readIntent(ref)
      if (i === undefined) throw new Error(`local provider: no intent ${ref}`)
      return i.status === 'succeeded' ? 'succeeded' : i.status === 'failed' ? 'failed' : 'pending'
    },

    async refund (req: RefundRequest): Promise<RefundResult> {
      await delay()
      const made = await o.db.transaction(async (trx) => {
        const done = await trx('local_pay_refunds').first('id').where({ idempotency_key: req.idempotencyKey }) as { id: string } | undefined
        if (done !== undefined) return { id: done.id, fresh: false }
        const intent = await trx('local_pay_intents').first('status', 'amount_cents', 'refunded_cents').where({ id: req.ref }).forUpdate() as { status: string, amount_cents: number, refunded_cents: number } | undefined
        if (intent?.status !== 'succeeded' || intent.refunded_cents + req.amountCents > intent.amount_cents) return undefined
        const id = `lpr_${randomBytes(12).toString('hex')}`
        await trx('local_pay_refunds').insert({ id, idempotency_key: req.idempotencyKey, intent_id: req.ref, amount_cents: req.amountCents, refund_id: String(req.refundId) })
        await trx('local_pay_intents').where({ id: req.ref }).increment('refunded_cents', req.amountCents)
        return { id, fresh: true }
      })
      if (made === undefined) return { status: 'failed', providerRef: '' }
      if (made.fresh) emit('refund.succeeded', { intent: req.ref, payment_id: await paymentIdOf(req.ref), amount_cents: req.amountCents, refund_id: String(req.refundId) })
      return { status: 'succeeded', providerRef: made.id }
    },

    async approve (id: string): Promise<LocalIntent | undefined> {
      const changed = await o.db('local_pay_intents').where({ id }).whereIn('status', ['requires_action', 'failed']).update({ status: 'succeeded' })
      const intent = await readIntent(id)
      if (changed === 1 && intent !== undefined) emit('payment.succeeded', { intent: id, payment_id: await paymentIdOf(id), amount_cents: intent.amountCents })
      return intent
    },

    async decline (id: string): Promise<LocalIntent | undefined> {
      const changed = await o.db('local_pay_intents').where({ id, status: 'requires_action' }).update({ status: 'failed' })
      const intent = await readIntent(id)
      if (changed === 1 && intent !== undefined) emit('payment.failed', { intent: id, payment_id: await paymentIdOf(id), amount_cents: intent.amountCents })
      return intent
    },

    intent: readIntent,

    async close (): Promise<void> {
      abort.abort()
      await Promise.allSettled([...inFlight])
    }
  }
}
