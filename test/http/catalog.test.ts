import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'

t.test('products: admin CRUD, public list with filters and pages, detail, cache cleared on write in every ingress', async (t) => {
  const env = await testEnv(t, { CATALOG_CACHE_MS: '60000' })
  const { http } = await startTestService(env)
  const other = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const admin = env.token(1, 'admin')
  const ids: number[] = []
  for (const [title, price] of [['Red shoe', 500], ['Blue shoe', 1500], ['Green hat', 2500]] as const) {
    ids.push((await http.request('POST', '/api/v1/admin/products', { token: admin, body: { title, price_cents: price, description: `${title}, limited` } })).body.data.id)
  }
  const all = await http.request('GET', '/api/v1/products')
  t.match(all.body.data, { page: 1, page_size: 20, total: 3 })
  t.same(all.body.data.items.map((p: { title: string }) => p.title), ['Red shoe', 'Blue shoe', 'Green hat'])
  const shoes = await http.request('GET', '/api/v1/products?q=shoe&sort=price_cents,desc')
  t.same(shoes.body.data.items.map((p: { title: string }) => p.title), ['Blue shoe', 'Red shoe'])
  const cheap = await http.request('GET', '/api/v1/products?min_price=1000&max_price=2000')
  t.same(cheap.body.data.items.map((p: { title: string }) => p.title), ['Blue shoe'])
  const page2 = await http.request('GET', '/api/v1/products?page=2&page_size=2')
  t.match(page2.body.data, { page: 2, page_size: 2, total: 3, items: [{ title: 'Green hat' }] })
  t.equal((await http.request('GET', '/api/v1/products?q=%25')).body.data.total, 0, 'a % in the search is a literal')
  for (const bad of ['sort=secret,asc', 'min_price=10&max_price=5', 'page=0', 'page_size=101', 'bogus=1']) {
    t.equal((await http.request('GET', `/api/v1/products?${bad}`)).status, 400, bad)
  }

  // Both ingresses cache the detail; a write through one clears both.
  t.equal((await other.http.request('GET', `/api/v1/products/${ids[0] ?? 0}`)).body.data.price_cents, 500)
  const patched = await http.request('PATCH', `/api/v1/admin/products/${ids[0] ?? 0}`, { token: admin, body: { price_cents: 450 } })
  t.equal(patched.body.data.price_cents, 450)
  await until(async () => (await other.http.request('GET', `/api/v1/products/${ids[0] ?? 0}`)).body.data.price_cents === 450, 2000, 'the other ingress to see the change')
  t.equal((await http.request('PATCH', `/api/v1/admin/products/${ids[0] ?? 0}`, { token: admin, body: {} })).status, 400, 'an empty change')
  t.equal((await http.request('PATCH', '/api/v1/admin/products/424242', { token: admin, body: { title: 'x' } })).status, 404)

  await createSale(http, env, { stock: 1 }) // sells a product of its own
  const used = (await env.db('seckill_events').first('product_id')) as { product_id: number }
  const inUse = await http.request('DELETE', `/api/v1/admin/products/${used.product_id}`, { token: admin })
  t.equal(inUse.status, 409)
  t.equal(inUse.body.code, 'PRODUCT_IN_USE')
  t.equal((await http.request('DELETE', `/api/v1/admin/products/${ids[2] ?? 0}`, { token: admin })).status, 204)
  t.equal((await other.http.request('GET', `/api/v1/products/${ids[2] ?? 0}`)).status, 404, 'gone everywhere')
  t.equal((await http.request('DELETE', `/api/v1/admin/products/${ids[2] ?? 0}`, { token: admin })).status, 404)
  t.equal((await http.request('DELETE', `/api/v1/admin/products/${ids[1] ?? 0}`, { token: env.token(5) })).status, 403)
})

t.test('events: edit and delete only before the start, changes reach Redis, lists by status, warm-up', async (t) => {
  const env = await testEnv(t)
  // No worker here: workers warm live events too, which would race the warm-up endpoint.
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const admin = env.token(1, 'admin')
  const upcoming = await createSale(http, env, { stock: 10, startInMs: 60_000 })
  const active = await createSale(http, env, { stock: 5 })

  const changed = await http.request('PATCH', `/api/v1/admin/events/${upcoming}`, { token: admin, body: { stock: 21, shards: 2, title: 'Bigger drop' } })
  t.match(changed.body.data, { stock: 21, shards: 2, remaining: 21, title: 'Bigger drop', status: 'upcoming' })
  const stocks = await Promise.all([0, 1].map(async (shard) => await env.redis.get(env.keys.shard({ eventId: upcoming, shard }).stock)))
  t.same(stocks, ['11', '10'], 'Redis holds the new split at once')
  const badWindow = await http.request('PATCH', `/api/v1/admin/events/${upcoming}`, { token: admin, body: { end_at: new Date(Date.now() + 1000).toISOString() } })
  t.equal(badWindow.status, 400, 'end before start')
  // Regression: an edit could move the start into the past, and the sale went live on the state
  // Redis held before the edit. Judged on MySQL's clock.
  const intoThePast = await http.request('PATCH', `/api/v1/admin/events/${upcoming}`, { token: admin, body: { start_at: new Date(Date.now() - 60_000).toISOString(), stock: 3 } })
  t.equal(intoThePast.status, 400, `a start moved into the past is refused (${JSON.stringify(intoThePast.body)})`)
  t.match(intoThePast.body.message, /start_at must be more than/)
  t.match((await http.request('GET', `/api/v1/events/${upcoming}`)).body.data, { stock: 21, status: 'upcoming' }, 'and nothing changed')
  const late = await http.request('PATCH', `/api/v1/admin/events/${active}`, { token: admin, body: { stock: 50 } })
  t.equal(late.status, 409)
  t.equal(late.body.code, 'EVENT_NOT_EDITABLE')
  t.equal((await http.request('DELETE', `/api/v1/admin/events/${active}`, { token: admin })).status, 409)

  const listed = await http.request('GET', '/api/v1/events?status=upcoming')
  t.same(listed.body.data.items.map((e: { id: number }) => e.id), [upcoming])
  const on = await http.request('GET', '/api/v1/events?status=active')
  t.match(on.body.data.items, [{ id: active, status: 'active', remaining: 5 }])
  t.equal((await http.request('GET', '/api/v1/events')).body.data.total, 2)
  t.equal((await http.request('GET', '/api/v1/events?status=soon')).status, 400)

  await env.redis.del(env.keys.shard({ eventId: active, shard: 0 }).stock)
  const warm = await http.request('POST', `/api/v1/admin/events/${active}/warmup`, { token: admin })
  t.same(warm.body.data, { warmed_shards: 1, shard_stock: [5] }, 'warm-up puts lost stock back (stock − sold)')
  t.equal((await http.request('POST', `/api/v1/admin/events/${active}/warmup`, { token: admin })).body.data.warmed_shards, 0, 'and leaves a warm sale alone')

  for (const [method, path, token, status, code] of [
    ['PATCH', '/api/v1/admin/events/424242', admin, 404, 'EVENT_NOT_FOUND'],
    ['DELETE', '/api/v1/admin/events/424242', admin, 404, 'EVENT_NOT_FOUND'],
    ['POST', '/api/v1/admin/events/424242/warmup', admin, 404, 'EVENT_NOT_FOUND'],
    ['PATCH', `/api/v1/admin/events/${upcoming}`, env.token(5), 403, 'FORBIDDEN'],
    ['DELETE', `/api/v1/admin/events/${upcoming}`, undefined, 401, 'UNAUTHORIZED'],
    ['POST', '/api/v1/events/424242/token', env.token(5), 404, 'EVENT_NOT_FOUND'],
    ['POST', `/api/v1/events/${upcoming}/token`, undefined, 401, 'UNAUTHORIZED']
  ] as const) {
    const r = await http.request(method, path, { token, body: method === 'PATCH' ? { title: 'x' } : undefined })
    t.same([r.status, r.body.code], [status, code], `${method} ${path}`)
  }
  t.equal((await http.request('PATCH', `/api/v1/admin/events/${upcoming}`, { token: admin, body: { product_id: 424242 } })).body.code, 'PRODUCT_NOT_FOUND')
  t.equal((await http.request('DELETE', `/api/v1/admin/events/${upcoming}`, { token: admin })).status, 204)
  t.equal((await http.request('GET', `/api/v1/events/${upcoming}`)).status, 404)
  t.equal(await env.redis.exists(env.keys.shard({ eventId: upcoming, shard: 0 }).stock), 0, 'its Redis state is gone')
})

t.test('buy tokens: issued only shortly before the start, bound to the buyer, single use, required to buy', async (t) => {
  const env = await testEnv(t, { BUY_TOKEN_LEAD_MS: '1500' })
  const { http } = await startTestService(env)
  const admin = env.token(1, 'admin')
  const plain = await createSale(http, env, { stock: 5 })
  const product = (await env.db('seckill_events').first('product_id').where({ id: plain })) as { product_id: number }
  const start = Date.now() + 3000
  const guarded = (await http.request('POST', '/api/v1/admin/events', {
    token: admin,
    body: { product_id: product.product_id, title: 'Guarded', price_cents: 100, stock: 5, start_at: new Date(start).toISOString(), end_at: new Date(start + 3_600_000).toISOString(), require_token: true }
  })).body.data.id as number

  const token = async (user: number, id = guarded): Promise<{ status: number, body: any }> => await http.request('POST', `/api/v1/events/${id}/token`, { token: env.token(user) })
  t.equal((await token(7, plain)).body.code, 'BUY_TOKEN_NOT_AVAILABLE', 'a sale without tokens issues none')
  t.equal((await token(7)).body.code, 'BUY_TOKEN_NOT_AVAILABLE', 'too early')
  await sleep(Math.max(0, start - 1400 - Date.now()))
  const mine = await token(7)
  t.equal(mine.status, 200, 'issued shortly before the start')
  const theirs = await token(8)
  await sleep(Math.max(0, start + 100 - Date.now()))

  const buy = async (user: number, tok?: string): Promise<{ status: number, body: any }> =>
    await http.request('POST', `/api/v1/events/${guarded}/buy`, { token: env.token(user), headers: tok === undefined ? {} : { 'x-buy-token': tok } })
  t.equal((await buy(7)).body.code, 'BUY_TOKEN_INVALID', 'no token, no buy')
  t.equal((await buy(7, 'A'.repeat(22))).body.code, 'BUY_TOKEN_INVALID', 'a wrong token')
  t.equal((await buy(7, 'bad')).status, 400, 'a malformed token')
  t.equal((await buy(9, mine.body.data.token)).body.code, 'BUY_TOKEN_INVALID', 'another buyer\'s token')
  const bought = await buy(7, mine.body.data.token)
  t.equal(bought.status, 202, 'with the buyer\'s token')
  t.equal((await buy(7)).body.data.ticket_id, bought.body.data.ticket_id, 'a resubmit returns the ticket without a token')
  t.equal((await buy(8, theirs.body.data.token)).status, 202)
  t.equal((await buy(8, theirs.body.data.token)).status, 200, 'used once; the same buyer gets their ticket')
  const again = await token(9)
  t.equal(again.status, 200, 'issued during the sale too')
  t.equal((await buy(9, again.body.data.token)).status, 202)
})
