/**
 * The Stripe adapter, with the official SDK pointed at a local stub of the API (its host/port/
 * protocol options) and webhooks signed by `stripe.webhooks.generateTestHeaderString`: no network.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import Stripe from 'stripe'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import type { Http } from '../helpers/sale'
import { startStripeStub } from '../helpers/stripe-stub'
import type { StripeStub } from '../helpers/stripe-stub'
import type { Test } from '../helpers/tap-types'
import { metric, orderStatus, paymentRow, winOrders } from '../helpers/payments'

const WEBHOOK_SECRET = 'whsec_test_0123456789abcdef0123456789abcdef'
const signer = new Stripe('sk_test_signer_only')

function stripeEvent (type: string, object: Record<string, unknown>): string {
  return JSON.stringify({ id: `evt_${randomBytes(10).toString('hex')}`, object: 'event', api_version: '2025-01-01', created: Math.floor(Date.now() / 1000), type, data: { object } })
}

async function post (http: Http, payload: string, header: string | undefined): Promise<{ status: number, body: any }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (header !== undefined) headers['stripe-signature'] = header
  const res = await fetch(`${http.base}/api/v1/payments/webhooks/stripe`, { method: 'POST', headers, body: payload })
  return { status: res.status, body: await res.json() }
}

const signed = (payload: string, opts: { secret?: string, timestamp?: number } = {}): string =>
  signer.webhooks.generateTestHeaderString({ payload, secret: opts.secret ?? WEBHOOK_SECRET, timestamp: opts.timestamp })

async function setup (t: Test, extra: Record<string, string> = {}): Promise<{ env: TestEnv, http: Http, stub: StripeStub, service: Awaited<ReturnType<typeof startTestService>>['service'] }> {
  const stub = await startStripeStub()
  t.teardown(stub.close)
  const env = await testEnv(t, { PAYMENT_PROVIDER: 'stripe', STRIPE_SECRET_KEY: 'sk_test_0123456789', STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_URL: stub.url, PUBLIC_URL: 'https://shop.example', ...extra })
  const { http, service } = await startTestService(env)
  return { env, http, stub, service }
}

t.test('stripe: a Checkout Session per order, once; its webhook pays the order; the pay button is gone', async (t) => {
  const { env, http, stub, service } = await setup(t)
  const sale = await createSale(http, env, { stock: 1 })
  const order = (await winOrders(http, env, sale, [11])).get(11) as string
  t.equal((await http.request('POST', `/api/v1/orders/${order}/pay`, { token: env.token(11) })).body.code, 'PAY_THROUGH_PROVIDER', 'no paying without money')

  const answers = await Promise.all([1, 2, 3].map(async () => await http.request('POST', `/api/v1/orders/${order}/payments`, { token: env.token(11) })))
  const p = answers[0]?.body.data
  for (const a of answers) t.same(a.body.data.redirect_url, p.redirect_url, 'the same place to pay')
  t.match(p, { provider: 'stripe', status: 'pending', amount_cents: 9900, currency: 'usd', redirect_url: /^https:\/\/checkout\.stripe\.test\/c\/pay\/cs_test_/ })
  t.equal(stub.sessions.size, 1, 'one Checkout Session, whatever the calls')
  const creates = stub.requests.filter((r) => r.path === '/v1/checkout/sessions')
  t.ok(creates.every((r) => r.idempotencyKey === `seckill-payment-${p.id as string}`), 'created with the payment\'s idempotency key')
  const session = [...stub.sessions.values()][0] as Record<string, any>
  t.match(session, { amount_total: 9900, client_reference_id: order, success_url: `https://shop.example/?order=${order}&payment=${p.id as string}`, metadata: { payment_id: p.id, order_id: order } })

  const paid = stub.pay(session.id)
  const good = stripeEvent('checkout.session.completed', paid)
  const forged = [
    ['tampered body', good.replace('"amount_total":9900', '"amount_total":1'), signed(good)],
    ['wrong secret', good, signed(good, { secret: 'whsec_wrong' })],
    ['old timestamp', good, signed(good, { timestamp: Math.floor(Date.now() / 1000) - 3600 })],
    ['no header', good, undefined]
  ] as const
  for (const [what, body, header] of forged) {
    const r = await post(http, body, header)
    t.equal(r.status, 400, `${what}: 400`)
    t.equal(r.body.code, 'WEBHOOK_SIGNATURE_INVALID')
  }
  t.equal(await orderStatus(env, order), 'pending_payment', 'forged webhooks changed nothing')
  t.equal(await metric(service, 'seckill_security_events_total', { kind: 'webhook_forged' }), forged.length)

  t.equal((await post(http, good, signed(good))).status, 200, 'the good one passes')
  t.equal(await orderStatus(env, order), 'paid')
  t.equal((await paymentRow(env, order)).status, 'captured')
  const unknown = stripeEvent('customer.created', { id: 'cus_1' })
  t.equal((await post(http, unknown, signed(unknown))).status, 200, 'another event type: acknowledged, ignored')
  t.equal(await metric(service, 'seckill_payment_outcomes_total', { outcome: 'ignored' }), 1)
})

t.test('stripe: money after expiry is refunded through the API with its own key; the refund webhook then changes nothing', async (t) => {
  const { env, http, stub } = await setup(t, { PAYMENT_TIMEOUT_MS: '600000' })
  const sale = await createSale(http, env, { stock: 1 })
  const order = (await winOrders(http, env, sale, [21])).get(21) as string
  const p = (await http.request('POST', `/api/v1/orders/${order}/payments`, { token: env.token(21) })).body.data
  await env.db('orders').where({ id: order }).update({ expires_at: env.db.raw('NOW(3) - INTERVAL 1 SECOND') })
  await until(async () => await orderStatus(env, order) === 'expired', 10_000, 'the expiry loop')
  const session = stub.pay([...stub.sessions.keys()][0] as string)
  const completed = stripeEvent('checkout.session.completed', session)
  t.equal((await post(http, completed, signed(completed))).status, 200)
  t.equal(await orderStatus(env, order), 'expired', 'an expired order is never paid')
  const row = await paymentRow(env, order)
  t.match(row, { status: 'refunded', late: 'expired', refunded_cents: 9900 })
  const refundCalls = stub.requests.filter((r) => r.path === '/v1/refunds')
  t.equal(refundCalls.length, 1, 'one refund asked of Stripe')
  const refundId = (await env.db('payment_refunds').first('id').where({ payment_id: p.id }) as { id: number }).id
  t.equal(refundCalls[0]?.idempotencyKey, `seckill-refund-${refundId}`)
  t.equal(refundCalls[0]?.form.get('payment_intent'), session.payment_intent)
  t.equal(refundCalls[0]?.form.get('amount'), '9900')
  const stripeRefund = [...stub.refunds.values()][0] as Record<string, any>
  const updated = stripeEvent('refund.updated', stripeRefund)
  t.equal((await post(http, updated, signed(updated))).status, 200)
  t.equal((await env.db('payment_events').first('outcome').where({ kind: 'refund_succeeded' }) as { outcome: string }).outcome, 'already_settled', 'the refund webhook found it settled')
  t.equal((await paymentRow(env, order)).refunded_cents, 9900, 'refunded once')
  t.equal((await env.db('admin_audit').where({ action: 'payment.late_refund', target_id: order })).length, 1, 'audited')
})

t.test('stripe: a session paid without a webhook is found by the reconciler', async (t) => {
  const { env, http, stub } = await setup(t, { PAYMENT_RECONCILE_AFTER_MS: '300', PAYMENT_RECONCILE_EVERY_MS: '100' })
  const sale = await createSale(http, env, { stock: 1 })
  const order = (await winOrders(http, env, sale, [31])).get(31) as string
  await http.request('POST', `/api/v1/orders/${order}/payments`, { token: env.token(31) })
  await until(async () => stub.requests.some((r) => r.method === 'GET'), 10_000, 'the reconciler to ask about the pending session')
  t.equal(await orderStatus(env, order), 'pending_payment', 'an unpaid session leaves the order pending')
  stub.pay([...stub.sessions.keys()][0] as string)
  await until(async () => await orderStatus(env, order) === 'paid', 10_000, 'the reconciler to pay the order')
  t.equal((await paymentRow(env, order)).status, 'captured')
})

t.test('stripe: a refund Stripe did not answer is asked again by the reconciler with the same key, and made once', async (t) => {
  const { env, http, stub } = await setup(t, { PAYMENT_RECONCILE_AFTER_MS: '300', PAYMENT_RECONCILE_EVERY_MS: '100' })
  const sale = await createSale(http, env, { stock: 1 })
  const order = (await winOrders(http, env, sale, [41])).get(41) as string
  await http.request('POST', `/api/v1/orders/${order}/payments`, { token: env.token(41) })
  const session = stub.pay([...stub.sessions.keys()][0] as string)
  const completed = stripeEvent('checkout.session.completed', session)
  t.equal((await post(http, completed, signed(completed))).status, 200)
  t.equal(await orderStatus(env, order), 'paid')
  // Stripe is down for the refund call and the SDK's own retries.
  stub.failRefunds = 1000
  const r = await http.request('POST', `/api/v1/admin/orders/${order}/refund`, { token: env.token(1, 'admin'), body: {} })
  t.equal(r.status, 200)
  t.match(r.body.data, { order: { status: 'paid' }, payment: { status: 'refunding' }, refund: { status: 'requested', amount_cents: 9900 } }, 'asked, not yet confirmed')
  await until(async () => stub.requests.filter((q) => q.path === '/v1/refunds').length >= 6, 15_000, 'the reconciler to ask again')
  t.equal(await orderStatus(env, order), 'paid', 'while Stripe is down the order stays paid')
  stub.failRefunds = 0
  await until(async () => await orderStatus(env, order) === 'refunded', 15_000, 'the reconciler to get the refund made')
  t.match(await paymentRow(env, order), { status: 'refunded', refunded_cents: 9900 })
  t.equal(stub.refunds.size, 1, 'one refund made at Stripe')
  const keys = new Set(stub.requests.filter((q) => q.path === '/v1/refunds').map((q) => q.idempotencyKey))
  t.equal(keys.size, 1, 'every attempt carried the same idempotency key')
  t.ok(stub.requests.filter((q) => q.path === '/v1/refunds').length >= 4, 'the failed attempts and the one that worked')
})
