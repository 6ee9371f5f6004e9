// Issue 29, scenario 3: payment deadlines judged by two clocks. A worker whose clock ran 30 s fast
// expired an order while MySQL still gave its buyer 20 s, and the buyer's pay inside the deadline
// got 409 ORDER_NOT_PAYABLE; a slow clock made expiries late. Deadlines are MySQL's: no worker
// clock may expire a payable order early, and none may make an expiry more than 1 s late by
// MySQL's clock. The process running the worker here (the test's own) has its clock set off.
import t from 'tap'
import { expireOrder } from '../../src/orders/order-lifecycle'
import { skewClock } from '../../src/util/clock'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, pool, returnsApplied, saleIdle, startTestService, until } from '../helpers/sale'
import type { Http } from '../helpers/sale'
import { auditSale } from '../../src/sale/invariant-audit'

async function buyAndWin (http: Http, env: TestEnv, eventId: number, users: number[]): Promise<Map<number, number>> {
  const tickets = await pool(users, 10, async (u) => (await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })).body.data.ticket_id as string)
  await until(async () => await saleIdle(env, eventId, 1), 20_000, 'the drain')
  const orders = new Map<number, number>()
  await Promise.all(users.map(async (u, i) => {
    const r = await http.request('GET', `/api/v1/tickets/${tickets[i] ?? ''}`, { token: env.token(u) })
    if (r.body.data.status === 'won') orders.set(u, Number(r.body.data.order_id))
  }))
  return orders
}

/** An order as MySQL sees it: status, ms left before its deadline, and ms from the deadline to its last change. */
async function onMysqlClock (env: TestEnv, id: number): Promise<{ status: string, leftMs: number, changedAfterMs: number }> {
  const [rows] = await env.db.raw(
    'SELECT status, TIMESTAMPDIFF(MICROSECOND, NOW(3), expires_at) / 1000 AS left_ms, TIMESTAMPDIFF(MICROSECOND, expires_at, updated_at) / 1000 AS changed_after_ms FROM orders WHERE id = ?', [id]) as [Array<{ status: string, left_ms: string, changed_after_ms: string }>]
  const r = rows[0]
  if (r === undefined) throw new Error(`order ${id} is missing`)
  return { status: r.status, leftMs: Number(r.left_ms), changedAfterMs: Number(r.changed_after_ms) }
}

t.test('a worker clock 30 s fast does not expire an order MySQL still gives 20 s; the buyer pays', async (t) => {
  skewClock(30_000)
  t.teardown(() => { skewClock(0) })
  const env = await testEnv(t, { PAYMENT_TIMEOUT_MS: '21000' })
  const { http, service } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 2 })
  const orders = await buyAndWin(http, env, eventId, [41, 42])
  t.equal(orders.size, 2)
  const payer = orders.get(41) as number
  const before = await onMysqlClock(env, payer)
  t.ok(before.leftMs >= 19_000, `MySQL gives the buyer ${Math.round(before.leftMs)} ms (the worker's clock says the deadline passed ${Math.round(30_000 - before.leftMs)} ms ago)`)

  // The worker's expiry path looks at the order now (as an expiry job or sweep firing on its clock does).
  const result = await expireOrder(service.runtime.lifecycle, payer)
  t.not(result, 'expired', `the worker's expiry leaves it alone (${result})`)
  t.equal((await onMysqlClock(env, payer)).status, 'pending_payment', 'still payable')
  const paid = await http.request('POST', `/api/v1/orders/${payer}/pay`, { token: env.token(41) })
  t.equal(paid.status, 200, `the buyer pays inside the deadline (${paid.status} ${String(paid.body.data?.status ?? paid.body.code)})`)

  // The other order is given 2 s on MySQL's clock: it expires then, not before, not 1 s after.
  const idle = orders.get(42) as number
  await env.db.raw('UPDATE orders SET expires_at = NOW(3) + INTERVAL 2 SECOND WHERE id = ?', [idle])
  await until(async () => (await onMysqlClock(env, idle)).status !== 'pending_payment', 10_000, 'the unpaid order to expire')
  const ended = await onMysqlClock(env, idle)
  t.equal(ended.status, 'expired')
  t.ok(ended.changedAfterMs >= 0, `not early by MySQL's clock (${ended.changedAfterMs} ms after the deadline)`)
  t.ok(ended.changedAfterMs <= 1000, `at most 1 s late by MySQL's clock (${ended.changedAfterMs} ms)`)
  await until(async () => await returnsApplied(env, eventId), 10_000, 'the return to be applied')
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  for (const c of audit.checks) if (['I1', 'I2', 'I6'].includes(c.id)) t.ok(c.ok, `${c.id}: ${c.detail}`)
})

t.test('a worker clock 30 s slow does not make expiry late', async (t) => {
  skewClock(-30_000)
  t.teardown(() => { skewClock(0) })
  const env = await testEnv(t, { PAYMENT_TIMEOUT_MS: '3000' })
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 3 })
  const orders = await buyAndWin(http, env, eventId, [51, 52, 53])
  t.equal(orders.size, 3)
  const paid = await http.request('POST', `/api/v1/orders/${String(orders.get(51))}/pay`, { token: env.token(51) })
  t.equal(paid.status, 200, 'one buyer pays in time')
  const unpaid = [orders.get(52), orders.get(53)] as number[]
  await until(async () => (await Promise.all(unpaid.map(async (id) => (await onMysqlClock(env, id)).status))).every((s) => s !== 'pending_payment'),
    10_000, 'the unpaid orders to expire (deadline 3 s)')
  for (const id of unpaid) {
    const ended = await onMysqlClock(env, id)
    t.equal(ended.status, 'expired')
    t.ok(ended.changedAfterMs >= 0 && ended.changedAfterMs <= 1000, `order ${id} expired ${ended.changedAfterMs} ms after its deadline by MySQL's clock (0..1000)`)
  }
  await until(async () => await returnsApplied(env, eventId), 10_000, 'the returns to be applied')
  t.equal(Number(await env.redis.get(env.keys.shard({ eventId, shard: 0 }).stock)), 2, 'each expired order\'s unit came back once')
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  for (const c of audit.checks) if (['I1', 'I2', 'I6'].includes(c.id)) t.ok(c.ok, `${c.id}: ${c.detail}`)
})
