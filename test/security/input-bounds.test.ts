// Issue 30, item 8: `GET /products?min_price=1e400` answered 500 (Infinity reached SQL) and logged a
// stack. Every number a request carries is now bounded in its schema, and a route declaring an
// unbounded one fails at start; out-of-range input is a 400 that changes nothing and logs nothing.
import t from 'tap'
import Fastify from 'fastify'
import { testEnv } from '../helpers/env'
import { httpClient } from '../helpers/sale'
import { freePort, spawnService, whenReady } from '../helpers/processes'
import { UnboundedNumberError, unboundedNumbers, validatorCompiler } from '../../src/http/validation'

t.test('a route declaring an unbounded number fails at start, naming it', async (t) => {
  t.same(unboundedNumbers({ type: 'object', properties: { a: { type: 'integer', minimum: 0 }, b: { type: 'number', minimum: 0, maximum: 1 }, c: { type: ['integer', 'null'], maximum: 5 } } }), ['/properties/a', '/properties/c'])
  t.same(unboundedNumbers({ type: 'integer', minimum: 0, maximum: Infinity }), ['(root)'], 'Infinity is no bound')
  const app = Fastify()
  t.teardown(async () => { await app.close() })
  app.setValidatorCompiler(validatorCompiler)
  app.get('/x', { schema: { querystring: { type: 'object', properties: { n: { type: 'integer', minimum: 0 } } } } }, async () => 'ok')
  await t.rejects(async () => { await app.ready() }, /GET \/x querystring: every number in a request schema needs a finite minimum and maximum; unbounded: \/properties\/n/)
  t.ok(new UnboundedNumberError('x', ['/a']) instanceof Error)
})

t.test('huge, infinite and negative numbers anywhere: 400, nothing changed, no stack logged', async (t) => {
  const env = await testEnv(t)
  const port = await freePort()
  const http = httpClient(`http://127.0.0.1:${port}`)
  const proc = spawnService(env, { PORT: String(port), LOG_LEVEL: 'info' })
  await whenReady(proc, http.base)
  const admin = env.token(1, 'admin')
  const buyer = env.token(7)
  const product = await http.request('POST', '/api/v1/admin/products', { token: admin, body: { title: 'Sneaker', price_cents: 100 } })
  t.equal(product.status, 201)
  const pid = product.body.data.id as number
  const start = new Date(Date.now() + 3_600_000).toISOString()
  const end = new Date(Date.now() + 7_200_000).toISOString()
  const event = await http.request('POST', '/api/v1/admin/events', { token: admin, body: { product_id: pid, title: 'Drop', price_cents: 90, stock: 5, start_at: start, end_at: end } })
  t.equal(event.status, 201)
  const eid = event.body.data.id as number
  const before = JSON.stringify([await env.db('products').select('*'), await env.db('seckill_events').select('*')])

  const huge = ['1e400', '-1e400', '1e20', '9007199254740993', 'Infinity']
  const gets: string[] = []
  for (const n of huge) {
    gets.push(`/api/v1/products?min_price=${n}`, `/api/v1/products?max_price=${n}`, `/api/v1/products?page=${n}`, `/api/v1/products?page_size=${n}`,
      `/api/v1/events?page=${n}`, `/api/v1/orders?page=${n}`, `/api/v1/admin/orders?page_size=${n}`, `/api/v1/admin/audit?page=${n}`,
      `/api/v1/tickets/${eid}-0-1?wait=${n}`)
  }
  gets.push('/api/v1/products/9999999999999999', '/api/v1/events/9999999999999999', '/api/v1/orders/9999999999999999')
  for (const path of gets) {
    const r = await http.request('GET', path, { token: path.includes('/admin/') ? admin : buyer })
    t.equal(r.status, 400, `GET ${path}: 400`)
    t.equal(r.body.code, 'BAD_REQUEST', path)
  }
  // JSON.parse turns 1e400 into Infinity too, which `integer` alone accepts.
  const bodies: Array<[string, string, string]> = []
  for (const field of ['price_cents', 'stock', 'shards', 'product_id']) {
    for (const n of ['1e400', '-1e400', '1e20']) {
      const fields = { product_id: pid, title: 'Drop', price_cents: 90, stock: 5, start_at: start, end_at: end } as Record<string, unknown>
      const json = JSON.stringify({ ...fields, [field]: '@' }).replace('"@"', n)
      bodies.push(['POST', '/api/v1/admin/events', json], ['PATCH', `/api/v1/admin/events/${eid}`, `{"${field}":${n}}`])
    }
  }
  bodies.push(['POST', '/api/v1/admin/products', '{"title":"X","price_cents":1e400}'], ['PATCH', `/api/v1/admin/products/${pid}`, '{"price_cents":1e400}'])
  for (const [method, path, body] of bodies) {
    const r = await http.request(method, path, { token: admin, body })
    t.equal(r.status, 400, `${method} ${path} ${body}: 400`)
  }
  t.equal(JSON.stringify([await env.db('products').select('*'), await env.db('seckill_events').select('*')]), before, 'nothing changed')
  t.equal(await proc.stop(), '0')
  t.notMatch(proc.output(), /"stack"|unhandled error|"level":50/, 'no stack, no error logged')
})
