// The expiry loop (src/orders/payment-deadline.ts) judges deadlines on MySQL's clock: each order
// expires at its own deadline, none before it and none more than a second after, including orders
// committed while the loop sleeps; several loops over the same due orders end each one once.
import t from 'tap'
import { loadConfig } from '../../src/config'
import { createLogger } from '../../src/logger'
import { PaymentDeadlines } from '../../src/orders/payment-deadline'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, pool, returnsApplied, saleIdle, startTestService, until } from '../helpers/sale'
import type { Http } from '../helpers/sale'

async function buyAndWin (http: Http, env: TestEnv, eventId: number, users: number[]): Promise<number[]> {
  await pool(users, 10, async (u) => await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) }))
  await until(async () => await saleIdle(env, eventId, 1), 20_000, 'the drain')
  return (await env.db('orders').select('id').where({ event_id: eventId }).orderBy('id') as Array<{ id: number }>).map((r) => Number(r.id))
}

/** Per order: status, and ms from its deadline to its last change, both on MySQL's clock. */
async function ends (env: TestEnv, ids: number[]): Promise<Map<number, { status: string, afterMs: number }>> {
  const [rows] = await env.db.raw(`SELECT id, status, TIMESTAMPDIFF(MICROSECOND, expires_at, updated_at) / 1000 AS after_ms FROM orders WHERE id IN (${ids.map(() => '?').join(',')})`, ids) as [Array<{ id: number, status: string, after_ms: string }>]
  return new Map(rows.map((r) => [Number(r.id), { status: r.status, afterMs: Number(r.after_ms) }]))
}

t.test('each order expires at its own deadline by MySQL\'s clock: not before, at most 1 s after', async (t) => {
  const env = await testEnv(t, { PAYMENT_TIMEOUT_MS: '600000' })
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 5 })
  const ids = await buyAndWin(http, env, eventId, [61, 62, 63, 64, 65])
  t.equal(ids.length, 5)
  // Deadlines 0.3 s to 2.7 s away, and one in ten minutes, set on MySQL's clock.
  const [far, ...soon] = ids as [number, ...number[]]
  await Promise.all(soon.map(async (id, i) => await env.db.raw('UPDATE orders SET expires_at = NOW(3) + INTERVAL ? MICROSECOND WHERE id = ?', [(300 + i * 800) * 1000, id])))
  await until(async () => [...(await ends(env, soon)).values()].every((o) => o.status === 'expired'), 10_000, 'the four orders to expire')
  for (const [id, o] of await ends(env, soon)) t.ok(o.afterMs >= 0 && o.afterMs <= 1000, `order ${id} expired ${o.afterMs} ms after its deadline (0..1000)`)
  t.equal((await ends(env, [far])).get(far)?.status, 'pending_payment', 'the order with ten minutes left is payable')
  await until(async () => await returnsApplied(env, eventId), 10_000, 'the returns to be applied')
  t.equal(Number(await env.redis.get(env.keys.shard({ eventId, shard: 0 }).stock)), 4, 'a unit came back for each, once')
})

t.test('three loops over the same due orders: each order is expired once and its unit returned once', async (t) => {
  const N = 30
  const env = await testEnv(t, { PAYMENT_TIMEOUT_MS: '600000' })
  // An ingress, and a worker with its own loop; two more loops run beside it.
  const { service, http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const worker = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'worker' }))
  const eventId = await createSale(http, env, { stock: N })
  const ids = await buyAndWin(http, env, eventId, Array.from({ length: N }, (_, i) => 700 + i))
  t.equal(ids.length, N)
  let counted = 0
  const loops = [0, 1].map(() => new PaymentDeadlines(service.runtime.lifecycle, createLogger('silent', 'test'), (n) => { counted += n }))
  for (const loop of loops) loop.start()
  env.defer(async () => { for (const loop of loops) await loop.close() })
  const before = (await env.db('seckill_events').first('sold').where({ id: eventId }) as { sold: number }).sold
  // All due at the same instant, on MySQL's clock.
  await env.db('orders').where({ event_id: eventId }).update({ expires_at: env.db.raw('NOW(3) + INTERVAL 500000 MICROSECOND') })
  await until(async () => [...(await ends(env, ids)).values()].every((o) => o.status === 'expired'), 10_000, 'every order to expire')
  const late = Math.max(...[...(await ends(env, ids)).values()].map((o) => o.afterMs))
  t.ok(late >= 0 && late <= 1000, `the last of ${N} expired ${late} ms after the deadline`)
  const returns = await env.db('unit_returns').where({ event_id: eventId, reason: 'expired' }).count({ n: '*' }).first() as { n: number | string }
  t.equal(Number(returns.n), N, 'one return per order')
  const after = (await env.db('seckill_events').first('sold').where({ id: eventId }) as { sold: number }).sold
  t.equal(before - after, N, '`sold` went down once per order')
  // A loop counts its expirations after its commit and its signal to the shard, so the rows can
  // read `expired` before the count moves: wait for the count, then check it once the returns
  // are applied (a double count would show by then).
  const workerExpired = async (): Promise<number> => (await worker.service.runtime.metrics.ordersExpired.get()).values[0]?.value ?? 0
  await until(async () => counted + await workerExpired() >= N, 10_000, 'the expirations to be counted')
  await until(async () => await returnsApplied(env, eventId), 10_000, 'the returns to be applied')
  const byWorker = await workerExpired()
  t.equal(counted + byWorker, N, `expirations counted once in all: ${counted} by the two extra loops, ${byWorker} by the worker's`)
  t.equal(Number(await env.redis.get(env.keys.shard({ eventId, shard: 0 }).stock)), N, 'every unit came back, once')
})
