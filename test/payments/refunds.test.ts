/**
 * Refunds an admin makes (`POST /api/v1/admin/orders/:id/refund`), through the local provider:
 * in part, then the rest; audited; the order `refunded`; the unit stays sold, during the sale and
 * after its end; bad input refused.
 */
import t from 'tap'
import { auditSale } from '../../src/sale/invariant-audit'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import { orderStatus, paymentRow, winOrders } from '../helpers/payments'

t.test('admin refunds: in part, then the rest; audited; the order refunded; its unit stays sold', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const admin = env.token(1, 'admin')
  const sale = await createSale(http, env, { stock: 3 })
  const orders = await winOrders(http, env, sale, [11, 12, 13])
  const [paid, unpaid, buttonPaid] = [11, 12, 13].map((u) => orders.get(u) as string) as [string, string, string]
  const p = (await http.request('POST', `/api/v1/orders/${paid}/payments`, { token: env.token(11) })).body.data
  t.equal((await fetch(`${http.base}${p.redirect_url as string}/approve`, { method: 'POST', redirect: 'manual' })).status, 303)
  await until(async () => await orderStatus(env, paid) === 'paid', 10_000, 'the order paid')
  t.equal((await http.request('POST', `/api/v1/orders/${buttonPaid}/pay`, { token: env.token(13) })).body.data.status, 'paid', 'paid with the local button: no payment')
  const soldBefore = (await env.db('seckill_events').first('sold').where({ id: sale })).sold
  const stockKey = env.keys.shard({ eventId: sale, shard: 0 }).stock
  const redisStockBefore = await env.redis.get(stockKey)

  const refund = (body: unknown, id = paid, token = admin): ReturnType<typeof http.request> => http.request('POST', `/api/v1/admin/orders/${id}/refund`, { token, body })
  t.equal((await refund({}, paid, env.token(11))).status, 403, 'a buyer cannot refund')
  t.equal((await refund({ amount_cents: -1 })).status, 400, 'a negative amount')
  t.equal((await refund({ amount_cents: 1.5 })).status, 400, 'a fraction of a cent')
  t.equal((await refund({ amount_cents: 100, extra: 1 })).status, 400, 'an unknown field')
  t.equal((await refund({}, '99999')).status, 404)
  const tooMuch = await refund({ amount_cents: 9901 })
  t.equal(tooMuch.status, 409)
  t.equal(tooMuch.body.code, 'REFUND_NOT_ALLOWED')
  t.equal((await refund({}, unpaid)).body.code, 'REFUND_NOT_ALLOWED', 'an unpaid order')
  t.equal((await refund({}, buttonPaid)).body.code, 'REFUND_NOT_ALLOWED', 'an order paid without the provider')
  t.equal((await env.db('payment_refunds').count({ n: '*' }).first() as any).n, 0, 'refused asks left nothing behind')

  const part = await refund({ amount_cents: 2500, reason: 'damaged box' })
  t.equal(part.status, 200)
  t.match(part.body.data, { order: { status: 'paid' }, payment: { status: 'captured', refunded_cents: 2500 }, refund: { amount_cents: 2500, status: 'succeeded' } }, 'in part: the order stays paid')
  const rest = await refund({})
  t.match(rest.body.data, { order: { status: 'refunded' }, payment: { status: 'refunded', refunded_cents: 9900 }, refund: { amount_cents: 7400, status: 'succeeded' } }, 'the rest: refunded')
  t.equal((await refund({})).body.code, 'REFUND_NOT_ALLOWED', 'nothing left to refund')
  t.equal((await env.db('local_pay_intents').first('refunded_cents').where({ id: (p.redirect_url as string).split('/').pop() })).refunded_cents, 9900, 'the provider refunded 9900 in all')

  const audit = (await http.request('GET', `/api/v1/admin/audit?action=order.refund&target_id=${paid}`, { token: admin })).body.data.items as Array<Record<string, unknown>>
  const done = audit.filter((a) => a.outcome === 'done')
  t.equal(done.length, 2, 'each refund audited')
  t.match(done[1], { actor_id: '1', target_type: 'order', detail: { amount_cents: 2500, reason: 'damaged box' } })
  t.ok(audit.some((a) => a.outcome === 'refused'), 'and the refused asks, as refused')
  t.equal((await env.db('seckill_events').first('sold').where({ id: sale })).sold, soldBefore, 'the refund gives no unit back: sold unchanged')
  t.equal(await env.redis.get(stockKey), redisStockBefore, 'nor to the running sale\'s stock in Redis')
  t.equal(Number((await env.db('unit_returns').count({ n: '*' }).where({ event_id: sale }).first() as any).n), 0, 'no unit return recorded')
  t.equal((await http.request('GET', `/api/v1/orders/${paid}`, { token: env.token(11) })).body.data.status, 'refunded', 'the buyer sees it refunded')
  t.equal((await paymentRow(env, paid)).status, 'refunded')
  const stats = (await http.request('GET', `/api/v1/admin/events/${sale}/stats`, { token: admin })).body.data
  t.match(stats.orders, { paid: 1, refunded: 1, pending_payment: 1 }, 'the operator page\'s orders by status')
  t.same(stats.payments, { pending: 0, failed: 0, captured: 0, refunding: 0, refunded: 1 }, 'and payments by status')
  const checks = await auditSale(env.db, env.redis, env.keys, sale)
  for (const c of checks.checks.filter((c) => ['I1', 'I2', 'I6'].includes(c.id))) t.ok(c.ok, `${c.id}: ${c.detail}`)
})

t.test('a refund after the sale ended gives no unit back either', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const sale = await createSale(http, env, { stock: 2, durationMs: 5_000 })
  const order = (await winOrders(http, env, sale, [21])).get(21) as string
  const p = (await http.request('POST', `/api/v1/orders/${order}/payments`, { token: env.token(21) })).body.data
  t.equal((await fetch(`${http.base}${p.redirect_url as string}/approve`, { method: 'POST', redirect: 'manual' })).status, 303)
  await until(async () => await orderStatus(env, order) === 'paid', 10_000, 'the order paid')
  const view = async (): Promise<{ status: string, sold: number, remaining: number }> => (await http.request('GET', `/api/v1/events/${sale}`)).body.data
  await until(async () => (await view()).status === 'ended', 15_000, 'the sale to end')
  const before = await view()
  t.match(before, { sold: 1, remaining: 1 })
  const sold = async (): Promise<number> => (await env.db('seckill_events').first('sold').where({ id: sale })).sold
  t.equal(await sold(), 1)
  const r = await http.request('POST', `/api/v1/admin/orders/${order}/refund`, { token: env.token(1, 'admin'), body: {} })
  t.match(r.body.data, { order: { status: 'refunded' }, payment: { status: 'refunded', refunded_cents: 9900 } }, 'refunded whole after the end')
  t.equal(await sold(), 1, 'sold unchanged in MySQL')
  t.match(await view(), { status: 'ended', remaining: before.remaining }, 'remaining unchanged')
  t.equal(Number((await env.db('unit_returns').count({ n: '*' }).where({ event_id: sale }).first() as any).n), 0, 'no unit return recorded')
})
