/**
 * The allocation policy seam with its first policy, first come first served: the per-sale setting
 * as the admin API takes, refuses and shows it, and a crowd sold in arrival order through the
 * policy (real Redis, MariaDB and drain).
 */
import t from 'tap'
import { testEnv } from '../helpers/env'
import { createSale, pool, saleIdle, startTestService, until } from '../helpers/sale'
import { auditSale, firstCome, policyFor } from '../../src/sale'

t.test('policyFor: a sale without a setting, and one set to first_come, get first come first served', async (t) => {
  t.equal(policyFor({}), firstCome)
  t.equal(policyFor({ mode: 'first_come', entry: 'on_start' }), firstCome)
  t.equal(firstCome.drainOrder, 'queue_position')
  t.throws(() => policyFor({ mode: 'draw' }), /no allocation policy/, 'a combination without a policy (a draw with no entries before its close) is not guessed')
  t.throws(() => policyFor({ mode: 'lottery' as never }), /no allocation policy/, 'nor a mode this release does not know')
})

t.test('admin API: mode and entry are stored and shown; bad values are a 400 that changes nothing', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const admin = env.token(1, 'admin')
  const product = await http.request('POST', '/api/v1/admin/products', { token: admin, body: { title: 'Lamp', price_cents: 100 } })
  const start = Date.now() + 60_000
  const body = { product_id: product.body.data.id, title: 'Drop', price_cents: 100, stock: 3, start_at: new Date(start).toISOString(), end_at: new Date(start + 60_000).toISOString() }

  const plain = await http.request('POST', '/api/v1/admin/events', { token: admin, body })
  t.equal(plain.status, 201)
  t.match(plain.body.data, { mode: 'first_come', entry: 'on_start' }, 'the defaults, shown')
  const explicit = await http.request('POST', '/api/v1/admin/events', { token: admin, body: { ...body, mode: 'first_come', entry: 'on_start' } })
  t.equal(explicit.status, 201)
  t.match((await http.request('GET', `/api/v1/events/${explicit.body.data.id as number}`)).body.data, { mode: 'first_come', entry: 'on_start' }, 'read back from MySQL')
  t.match(await env.db('seckill_events').first('allocation_mode', 'entry_mode').where({ id: explicit.body.data.id }), { allocation_mode: 'first_come', entry_mode: 'on_start' })

  const before = await env.db('seckill_events').count({ n: '*' }).first() as { n: number | string }
  for (const [bad, field] of [[{ mode: 'lottery' }, 'mode'], [{ mode: 'FIRST_COME' }, 'mode'], [{ mode: 7 }, 'mode'], [{ mode: null }, 'mode'], [{ entry: 'whenever' }, 'entry'], [{ entry: '' }, 'entry']] as const) {
    const r = await http.request('POST', '/api/v1/admin/events', { token: admin, body: { ...body, ...bad } })
    t.equal(r.status, 400, `create with ${JSON.stringify(bad)}`)
    t.equal(r.body.code, 'BAD_REQUEST')
    t.match(r.body.message, new RegExp(field), `the message names ${field}: ${String(r.body.message)}`)
    const patch = await http.request('PATCH', `/api/v1/admin/events/${plain.body.data.id as number}`, { token: admin, body: bad })
    t.equal(patch.status, 400, `edit with ${JSON.stringify(bad)}`)
  }
  const after = await env.db('seckill_events').count({ n: '*' }).first() as { n: number | string }
  t.equal(Number(after.n), Number(before.n), 'no event was created by a refused request')
  t.match(await env.db('seckill_events').first('allocation_mode').where({ id: plain.body.data.id }), { allocation_mode: 'first_come' }, 'nor changed')
  t.equal((await http.request('POST', '/api/v1/admin/events', { token: env.token(2), body })).status, 403, 'buyers may not set it')
})

t.test('first come first served through the policy: exactly the stock sold, in arrival order', async (t) => {
  const env = await testEnv(t, { GATE_OVERBOOK: '2' })
  const { http } = await startTestService(env)
  const stock = 10
  const eventId = await createSale(http, env, { stock })
  // One after another, so arrival order is known: the first `stock` win, every later one loses.
  const tickets = await pool(Array.from({ length: 30 }, (_, i) => 3000 + i), 1, async (u) =>
    (await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })).body.data as { ticket_id: string, status: string })
  await until(async () => await saleIdle(env, eventId, 1), 30_000, 'the sale to be decided')
  const outcomes = await Promise.all(tickets.map(async (tk, i) =>
    (await http.request('GET', `/api/v1/tickets/${tk.ticket_id}`, { token: env.token(3000 + i) })).body.data.status as string))
  t.same(outcomes.slice(0, stock), new Array(stock).fill('won'), 'the first ten arrivals won')
  t.same(outcomes.slice(stock).filter((s) => s === 'won'), [], 'no later arrival won')
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  for (const c of audit.checks) t.ok(c.ok, `${c.id}: ${c.detail}`)
  t.equal(audit.liveOrders, stock)
})
