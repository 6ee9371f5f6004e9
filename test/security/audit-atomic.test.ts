// Issue 30, item 10: the audit row was written after the change committed (a failed write of it
// left an unaudited change), failed admin attempts were not recorded, and the client's
// x-request-id was to be checked before it reaches the audit.
import t from 'tap'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { startTestService } from '../helpers/sale'

const count = async (env: TestEnv, table: string): Promise<number> => Number(((await env.db(table).count({ n: '*' }).first()) as { n: number | string }).n)

t.test('a change and its audit row are written together, or neither', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const admin = env.token(1, 'admin')
  const product = await http.request('POST', '/api/v1/admin/products', { token: admin, body: { title: 'Kept', price_cents: 100 } })
  t.equal(product.status, 201)
  const pid = product.body.data.id as number
  const start = new Date(Date.now() + 3_600_000).toISOString()
  const event = await http.request('POST', '/api/v1/admin/events', { token: admin, body: { product_id: pid, title: 'Drop', price_cents: 90, stock: 5, start_at: start, end_at: new Date(Date.now() + 7_200_000).toISOString() } })
  t.equal(event.status, 201)
  const eid = event.body.data.id as number
  const trail = await env.db('admin_audit').select('action', 'target_id', 'outcome').orderBy('id')
  t.same(trail, [{ action: 'product.create', target_id: String(pid), outcome: 'done' }, { action: 'event.create', target_id: String(eid), outcome: 'done' }], 'each change has its row')

  // The trail cannot be written (as when its insert fails): the changes must not happen either.
  await env.db.raw('RENAME TABLE admin_audit TO admin_audit_away')
  const [products, events] = [await count(env, 'products'), await count(env, 'seckill_events')]
  const attempts: Array<[string, string, unknown]> = [
    ['POST', '/api/v1/admin/products', { title: 'Unaudited', price_cents: 1 }],
    ['PATCH', `/api/v1/admin/products/${pid}`, { title: 'Renamed unaudited' }],
    ['POST', '/api/v1/admin/events', { product_id: pid, title: 'Unaudited drop', price_cents: 1, stock: 1, start_at: start, end_at: new Date(Date.now() + 7_200_000).toISOString() }],
    ['PATCH', `/api/v1/admin/events/${eid}`, { title: 'Renamed unaudited' }],
    ['DELETE', `/api/v1/admin/events/${eid}`, undefined]
  ]
  for (const [method, path, body] of attempts) {
    const r = await http.request(method, path, { token: admin, body })
    t.ok(r.status >= 500, `${method} ${path}: refused (${r.status}) when its audit row cannot be written`)
  }
  await env.db.raw('RENAME TABLE admin_audit_away TO admin_audit')
  t.equal(await count(env, 'products'), products, 'no product was made')
  t.equal(await count(env, 'seckill_events'), events, 'no event was made or deleted')
  t.equal((await env.db('products').first('title').where({ id: pid }) as { title: string }).title, 'Kept', 'the product was not renamed')
  t.equal((await env.db('seckill_events').first('title').where({ id: eid }) as { title: string }).title, 'Drop', 'the event was not renamed')
})

t.test('failed admin attempts are recorded; a client\'s request id only when well formed', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const admin = env.token(1, 'admin')
  const buyer = env.token(77)

  const missing = await http.request('PATCH', '/api/v1/admin/products/424242', { token: admin, body: { title: 'Nope' }, headers: { 'x-request-id': 'ops-req-1' } })
  t.equal(missing.status, 404)
  const denied = await http.request('POST', '/api/v1/admin/products', { token: buyer, body: { title: 'Mine now', price_cents: 1 } })
  t.equal(denied.status, 403)
  t.equal((await http.request('GET', '/api/v1/admin/orders', { token: buyer })).status, 403)
  t.equal((await http.request('POST', '/api/v1/admin/users/77/ban', { token: admin, body: { reason: 'x' } })).status, 404, 'a ban of nobody')
  t.equal((await http.request('POST', '/api/v1/admin/products', { body: { title: 'Anonymous', price_cents: 1 } })).status, 401)

  // A request id a client made up: kept when well formed, replaced when not (logs and the trail).
  const forged = 'x'.repeat(65)
  const odd = await http.request('DELETE', '/api/v1/admin/products/424243', { token: admin, headers: { 'x-request-id': forged } })
  const given = odd.headers.get('x-request-id') ?? ''
  t.not(given, forged, 'an over-long request id is not taken')
  t.match(given, /^[0-9a-f-]{36}$/, 'a fresh one is made')
  const injected = await http.request('DELETE', '/api/v1/admin/products/424244', { token: admin, headers: { 'x-request-id': 'a"b{}<script>' } })
  t.match(injected.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/, 'nor one with quotes and markup')

  const rows = await env.db('admin_audit').select('*').orderBy('id') as Array<Record<string, any>>
  t.match(rows.map((r) => [r.action, r.outcome, r.actor_id === null ? null : String(r.actor_id)]), [
    ['product.update', 'refused', '1'],
    ['admin.denied', 'refused', '77'],
    ['admin.denied', 'refused', '77'],
    ['user.ban', 'refused', '1'],
    ['product.delete', 'refused', '1'],
    ['product.delete', 'refused', '1']
  ], 'refused admin writes and a buyer turned away twice; the anonymous attempt is not written')
  t.match(JSON.parse(rows[0]?.detail as string), { status: 404, code: 'PRODUCT_NOT_FOUND', asked: { title: 'Nope' } })
  t.equal(rows[0]?.request_id, 'ops-req-1', 'a well-formed request id is kept')
  t.match(JSON.parse(rows[1]?.detail as string), { method: 'POST', route: '/api/v1/admin/products', status: 403 })
  t.equal(rows[4]?.request_id, given, 'the trail holds the id the service made')
  const page = await http.request('GET', '/api/v1/admin/audit?outcome=refused', { token: admin })
  t.equal(page.body.data.total, 6, 'the trail lists them by outcome')
})
