import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { auditSale } from '../../src/sale/invariant-audit'
import { isDeclaredSoldOut } from '../../src/stock/sale-state'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, pool, returnsApplied, saleIdle, startTestService, until } from '../helpers/sale'
import type { Http } from '../helpers/sale'
import type { Test } from '../helpers/tap-types'

async function buyAndWin (http: Http, env: TestEnv, eventId: number, users: number[], shards = 1): Promise<Map<number, string>> {
  const tickets = await pool(users, 20, async (u) => (await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })).body.data.ticket_id as string)
  await until(async () => await saleIdle(env, eventId, shards), 20_000, 'the drain')
  const orders = new Map<number, string>()
  await Promise.all(users.map(async (u, i) => {
    const r = await http.request('GET', `/api/v1/tickets/${tickets[i] ?? ''}`, { token: env.token(u) })
    if (r.body.data.status === 'won') orders.set(u, r.body.data.order_id as string)
  }))
  return orders
}

async function checks (t: Test, env: TestEnv, eventId: number, ids: string[]): Promise<void> {
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  for (const c of audit.checks) if (ids.includes(c.id)) t.ok(c.ok, `${c.id}: ${c.detail}`)
}

t.test('orders: read, list, pay, cancel', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 3 })
  const orders = await buyAndWin(http, env, eventId, [11, 12, 13])
  t.equal(orders.size, 3)
  const mine = orders.get(11) as string

  const got = await http.request('GET', `/api/v1/orders/${mine}`, { token: env.token(11) })
  t.match(got.body.data, { id: mine, status: 'pending_payment', event_id: eventId, user_id: '11' })
  t.ok(Date.parse(got.body.data.expires_at) > Date.now(), 'a payment deadline in the future')
  t.equal((await http.request('GET', `/api/v1/orders/${mine}`, { token: env.token(12) })).status, 404, 'another buyer sees nothing')
  t.equal((await http.request('GET', `/api/v1/orders/${mine}`, { token: env.token(1, 'admin') })).status, 200, 'an admin may read it')
  t.equal((await http.request('GET', '/api/v1/orders/99999', { token: env.token(11) })).status, 404)
  t.equal((await http.request('GET', '/api/v1/orders/abc', { token: env.token(11) })).status, 400)
  t.equal((await http.request('GET', `/api/v1/orders/${mine}`)).status, 401)

  const list = await http.request('GET', '/api/v1/orders?page=1&page_size=10&sort=created_at,desc', { token: env.token(11) })
  t.match(list.body.data, { page: 1, page_size: 10, total: 1 })
  t.equal(list.body.data.items[0].id, mine)
  t.equal((await http.request('GET', '/api/v1/orders?sort=password,asc', { token: env.token(11) })).status, 400, 'unknown sort field')
  t.equal((await http.request('GET', '/api/v1/orders?page_size=1000', { token: env.token(11) })).status, 400, 'page too large')
  const admin = await http.request('GET', `/api/v1/admin/orders?event_id=${eventId}&status=pending_payment`, { token: env.token(1, 'admin') })
  t.equal(admin.body.data.total, 3, 'admin sees every order of the event')
  t.equal((await http.request('GET', '/api/v1/admin/orders', { token: env.token(11) })).status, 403)

  const paid = await http.request('POST', `/api/v1/orders/${mine}/pay`, { token: env.token(11), headers: { 'idempotency-key': 'pay-1' } })
  t.equal(paid.body.data.status, 'paid')
  t.ok(paid.body.data.paid_at !== null)
  const again = await http.request('POST', `/api/v1/orders/${mine}/pay`, { token: env.token(11), headers: { 'idempotency-key': 'pay-1' } })
  t.same(again.body.data, paid.body.data, 'a replayed payment answers the same paid order')
  t.equal((await http.request('POST', `/api/v1/orders/${mine}/pay`, { token: env.token(11), headers: { 'idempotency-key': 'bad key' } })).status, 400)
  t.equal((await http.request('POST', `/api/v1/orders/${mine}/pay`, { token: env.token(12) })).status, 404, 'paying someone else\'s order')
  const cancelPaid = await http.request('POST', `/api/v1/orders/${mine}/cancel`, { token: env.token(11) })
  t.equal(cancelPaid.status, 409)
  t.equal(cancelPaid.body.code, 'ORDER_NOT_CANCELLABLE')

  const other = orders.get(12) as string
  const cancelled = await http.request('POST', `/api/v1/orders/${other}/cancel`, { token: env.token(12) })
  t.equal(cancelled.body.data.status, 'cancelled')
  t.equal((await http.request('POST', `/api/v1/orders/${other}/cancel`, { token: env.token(12) })).body.data.status, 'cancelled', 'cancel again: same answer')
  const payCancelled = await http.request('POST', `/api/v1/orders/${other}/pay`, { token: env.token(12) })
  t.equal(payCancelled.status, 409)
  t.equal(payCancelled.body.code, 'ORDER_NOT_PAYABLE')
  // The shard's owner puts the unit back between its batches.
  await until(async () => await returnsApplied(env, eventId), 10_000, 'the return to be applied')
  t.equal((await env.redis.get(env.keys.shard({ eventId, shard: 0 }).stock)), '1', 'the unit came back once')
  await checks(t, env, eventId, ['I1', 'I2', 'I3', 'I4', 'I6'])
})

t.test('cancel: a new buyer wins the returned unit; the canceller cannot buy again; those turned away stay turned away', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 2, shards: 2 })
  const orders = await buyAndWin(http, env, eventId, [21, 22], 2)
  // Deciding the last ticket does not close the gates at once: each shard's owner closes its own
  // once the whole sale is empty (a round trip or a sibling's hint later). Until then a buyer is
  // admitted, and later loses.
  await until(async () => await isDeclaredSoldOut({ redis: env.redis, keys: env.keys }, eventId), 20_000, 'the sale to be declared sold out')
  const late = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(23) })
  t.equal(late.body.data.status, 'sold_out', 'a third buyer finds it sold out')
  await until(async () => (await http.request('GET', `/api/v1/events/${eventId}`)).body.data.status === 'sold_out', 5000, 'sold out')

  const cancelled = await http.request('POST', `/api/v1/orders/${orders.get(21) ?? ''}/cancel`, { token: env.token(21) })
  t.equal(cancelled.body.data.status, 'cancelled')
  await until(async () => (await http.request('GET', `/api/v1/events/${eventId}`)).body.data.status === 'active', 5000, 'the sale to reopen')

  const canceller = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(21) })
  t.match(canceller.body.data, { status: 'won', order_id: orders.get(21) }, 'the canceller gets their old ticket back, not a new one')
  const turnedAway = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(23) })
  t.same(turnedAway.body.data, late.body.data, 'a buyer turned away keeps their answer (I7)')

  const newcomer = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(24) })
  t.equal(newcomer.status, 202, 'a new buyer is admitted for the returned unit')
  const outcome = await http.request('GET', `/api/v1/tickets/${String(newcomer.body.data.ticket_id)}?wait=10000`, { token: env.token(24) })
  t.equal(outcome.body.data.status, 'won', 'and wins it')
  await until(async () => await saleIdle(env, eventId, 2), 10_000, 'idle')
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  for (const c of audit.checks) t.ok(c.ok, `${c.id}: ${c.detail}`)
  t.equal(audit.liveOrders, 2)
  const rows = await env.db('orders').where({ event_id: eventId, user_id: 21 })
  t.equal(rows.length, 1, 'the canceller has one (cancelled) order')
})

t.test('pay and expiry race: each order ends paid or expired, units come back only for the expired', async (t) => {
  const TIMEOUT = 3000
  const N = 40
  const env = await testEnv(t, { PAYMENT_TIMEOUT_MS: String(TIMEOUT) })
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: N })
  const users = Array.from({ length: N }, (_, i) => 100 + i)
  const orders = await buyAndWin(http, env, eventId, users)
  t.equal(orders.size, N)
  const deadline = Math.max(...(await env.db('orders').where({ event_id: eventId }).select('expires_at') as Array<{ expires_at: Date }>).map((r) => r.expires_at.getTime()))
  await sleep(Math.max(0, deadline - Date.now() - 250))
  // Payments land from 250 ms before the last deadline to 250 ms after it, while expiry jobs fire.
  const answers = await Promise.all(users.map(async (u) => {
    await sleep(Math.floor(Math.random() * 500))
    const r = await http.request('POST', `/api/v1/orders/${orders.get(u) ?? ''}/pay`, { token: env.token(u) })
    return { u, status: r.status, body: r.body }
  }))
  await until(async () => Number((await env.db('orders').where({ event_id: eventId, status: 'pending_payment' }).count({ n: '*' }).first() as { n: number }).n) === 0, 20_000, 'every order to be settled')
  const final = new Map((await env.db('orders').where({ event_id: eventId }).select('id', 'status') as Array<{ id: number, status: string }>).map((r) => [String(r.id), r.status]))
  let paid = 0
  let expired = 0
  for (const a of answers) {
    const status = final.get(orders.get(a.u) ?? '')
    if (status === 'paid') { paid++; t.equal(a.status, 200, `order of ${a.u}: paid and told so`) } else if (status === 'expired') { expired++; t.equal(a.status, 409, `order of ${a.u}: expired and told so`) } else t.fail(`order of ${a.u} ended ${String(status)}`)
  }
  t.equal(paid + expired, N, `every order paid (${paid}) or expired (${expired})`)
  const event = await env.db('seckill_events').first('sold').where({ id: eventId }) as { sold: number }
  t.equal(event.sold, paid, 'sold counts the paid orders only')
  await until(async () => await returnsApplied(env, eventId), 10_000, 'the returns to be applied')
  t.equal(Number(await env.redis.get(env.keys.shard({ eventId, shard: 0 }).stock)), expired, 'a unit came back for each expired order, once')
  await checks(t, env, eventId, ['I1', 'I2', 'I3', 'I4', 'I6'])
})

t.test('payment deadlines: orders MySQL says are overdue expire; an order not yet due waits for its own deadline', async (t) => {
  const env = await testEnv(t, { PAYMENT_TIMEOUT_MS: '600000' })
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 3 })
  const orders = await buyAndWin(http, env, eventId, [31, 32, 33])
  t.equal(orders.size, 3)

  // Orders 31 and 32 are overdue in MySQL, 33 not for 1.5 s (deadlines set on MySQL's clock).
  const [a, b, c] = [31, 32, 33].map((u) => Number(orders.get(u)))
  await env.db('orders').whereIn('id', [a, b]).update({ expires_at: env.db.raw('NOW(3) - INTERVAL 1 SECOND') })
  await env.db('orders').where({ id: c }).update({ expires_at: env.db.raw('NOW(3) + INTERVAL 1500000 MICROSECOND') })
  const status = async (id: number | undefined): Promise<string> => (await env.db('orders').first('status').where({ id }) as { status: string }).status
  await until(async () => await status(a) === 'expired' && await status(b) === 'expired', 10_000, 'the overdue orders to expire')
  await until(async () => await status(c) === 'expired', 10_000, 'the last order to expire at its own deadline')
  const [[late]] = await env.db.raw('SELECT TIMESTAMPDIFF(MICROSECOND, expires_at, updated_at) / 1000 AS ms FROM orders WHERE id = ?', [c]) as [[{ ms: string }]]
  t.ok(Number(late.ms) >= 0 && Number(late.ms) <= 1000, `the order not yet due was left alone until its deadline, then expired ${Number(late.ms)} ms after it (MySQL's clock)`)
  // The unit goes back to Redis just after the order's expiry commits in MySQL.
  const stock = async (): Promise<number> => Number(await env.redis.get(env.keys.shard({ eventId, shard: 0 }).stock))
  await until(async () => await stock() === 3, 5000, 'the units to come back')
  await sleep(300)
  t.equal(await stock(), 3, 'each unit came back once')
  await checks(t, env, eventId, ['I1', 'I2', 'I6'])
})
