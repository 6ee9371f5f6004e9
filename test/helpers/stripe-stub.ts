/**
 * A stub of the few Stripe API calls the adapter makes (Checkout Sessions, refunds), on a local
 * port, so the official SDK is exercised for real without the network. Honours Idempotency-Key as
 * Stripe does (same key, same object) and records every request.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'

export interface StripeStub {
  readonly url: string
  readonly requests: Array<{ method: string, path: string, idempotencyKey: string | undefined, form: URLSearchParams }>
  readonly sessions: Map<string, Record<string, any>>
  readonly refunds: Map<string, Record<string, any>>
  /** The next this-many refund requests are answered 500 (Stripe down). */
  failRefunds: number
  /** The buyer paid on Stripe's page: the session is paid, with a payment intent. */
  pay: (sessionId: string) => Record<string, any>
  close: () => Promise<void>
}

const rid = (prefix: string): string => `${prefix}_${randomBytes(10).toString('hex')}`

function nested (form: URLSearchParams, prefix: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of form) {
    const m = new RegExp(`^${prefix.replace(/[[\]]/g, '\\$&')}\\[(\\w+)\\]$`).exec(k)
    if (m !== null) out[m[1] as string] = v
  }
  return out
}

export async function startStripeStub (): Promise<StripeStub> {
  const requests: StripeStub['requests'] = []
  const sessions = new Map<string, Record<string, any>>()
  const refunds = new Map<string, Record<string, any>>()
  const byKey = new Map<string, Record<string, any>>()
  const stub = { failRefunds: 0 } as StripeStub
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      const form = new URLSearchParams(body)
      const key = req.headers['idempotency-key'] as string | undefined
      const path = (req.url ?? '').split('?')[0] as string
      requests.push({ method: req.method ?? '', path, idempotencyKey: key, form })
      const send = (status: number, obj: unknown): void => { res.writeHead(status, { 'content-type': 'application/json', 'request-id': rid('req') }).end(JSON.stringify(obj)) }
      if (key !== undefined && byKey.has(`${path}|${key}`)) { send(200, byKey.get(`${path}|${key}`)); return }
      if (req.method === 'POST' && path === '/v1/checkout/sessions') {
        const id = rid('cs_test')
        const s = {
          id,
          object: 'checkout.session',
          url: `https://checkout.stripe.test/c/pay/${id}`,
          status: 'open',
          payment_status: 'unpaid',
          amount_total: Number(form.get('line_items[0][price_data][unit_amount]')),
          currency: form.get('line_items[0][price_data][currency]'),
          client_reference_id: form.get('client_reference_id'),
          success_url: form.get('success_url'),
          payment_intent: null,
          metadata: nested(form, 'metadata')
        }
        sessions.set(id, s)
        if (key !== undefined) byKey.set(`${path}|${key}`, s)
        send(200, s)
        return
      }
      const get = /^\/v1\/checkout\/sessions\/([\w]+)$/.exec(path)
      if (req.method === 'GET' && get !== null) {
        const s = sessions.get(get[1] as string)
        if (s === undefined) send(404, { error: { type: 'invalid_request_error', message: 'No such checkout.session' } })
        else send(200, s)
        return
      }
      if (req.method === 'POST' && path === '/v1/refunds' && stub.failRefunds > 0) {
        stub.failRefunds--
        send(500, { error: { type: 'api_error', message: 'stub: Stripe is down' } })
        return
      }
      if (req.method === 'POST' && path === '/v1/refunds') {
        const r = { id: rid('re'), object: 'refund', status: 'succeeded', amount: Number(form.get('amount')), payment_intent: form.get('payment_intent'), metadata: nested(form, 'metadata') }
        refunds.set(r.id, r)
        if (key !== undefined) byKey.set(`${path}|${key}`, r)
        send(200, r)
        return
      }
      send(404, { error: { type: 'invalid_request_error', message: `stub: no route ${req.method ?? ''} ${path}` } })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return Object.assign(stub, {
    url: `http://127.0.0.1:${port}`,
    requests,
    sessions,
    refunds,
    pay (id: string) {
      const s = sessions.get(id) as Record<string, any>
      Object.assign(s, { status: 'complete', payment_status: 'paid', payment_intent: rid('pi') })
      return s
    },
    close: async () => { await new Promise<void>((resolve) => server.close(() => resolve())) }
  })
}
