import t from 'tap'
import { request as rawRequest } from 'node:http'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, saleIdle, startTestService, until } from '../helpers/sale'
import { auditSale } from '../../src/sale/invariant-audit'
import { rng } from '../helpers/rng'

const NASTY = [
  // eslint-disable-next-line no-template-curly-in-string -- a Log4Shell probe, meant literally
  "' OR '1'='1", '1; DROP TABLE orders; --', 'redis.call("FLUSHALL")', '{{7*7}}', '${jndi:x}', '../../etc/passwd',
  '\u0000', '😀'.repeat(50), 'ß'.repeat(300), '-1', '0', '1e309', '99999999999999999999999', 'NaN', 'null', 'true', '[]', '{}', ' ', ''
]

function value (r: () => number, depth = 0): unknown {
  const pick = Math.floor(r() * 12)
  switch (pick) {
    case 0: return NASTY[Math.floor(r() * NASTY.length)]
    case 1: return Math.floor((r() - 0.5) * 2 ** (r() * 70))
    case 2: return r() < 0.5 ? -1 : Number.MAX_SAFE_INTEGER
    case 3: return r() * 1e308
    case 4: return null
    case 5: return r() < 0.5
    case 6: return 'x'.repeat(Math.floor(r() * 20000))
    case 7: return depth > 2 ? 1 : Array.from({ length: Math.floor(r() * 4) }, () => value(r, depth + 1))
    case 8: return depth > 2 ? {} : object(r, depth + 1)
    case 9: return new Date(Math.floor(r() * 4e12)).toISOString()
    case 10: return `${Math.floor(r() * 5)}`
    default: return 'user@example.com'
  }
}

const FIELDS = ['title', 'price_cents', 'description', 'product_id', 'stock', 'shards', 'start_at', 'end_at', 'require_token', 'email', 'password', 'refresh_token', '__proto__', 'constructor', 'role']

function object (r: () => number, depth = 0): Record<string, unknown> {
  const o: Record<string, unknown> = {}
  for (let i = Math.floor(r() * 6); i > 0; i--) o[FIELDS[Math.floor(r() * FIELDS.length)] as string] = value(r, depth)
  return o
}

function body (r: () => number): string | undefined {
  const pick = Math.floor(r() * 6)
  if (pick === 0) return undefined
  if (pick === 1) return '{"title": '
  if (pick === 2) return 'x'.repeat(Math.floor(r() * 40_000))
  if (pick === 3) return JSON.stringify(value(r))
  return JSON.stringify(object(r))
}

/** A value as text. An object built with a `__proto__` field may have no toString: objects are spelled as JSON. */
function text (v: unknown): string {
  return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)
}

function segment (r: () => number): string {
  return encodeURIComponent(text(value(r))).slice(0, 300) || '1'
}

/** One request on its own connection (a server closing a connection must not fail the next). */
async function send (base: string, method: string, path: string, headers: Record<string, string>, payload: string | undefined): Promise<number | string> {
  return await new Promise((resolve) => {
    const req = rawRequest(base + path, { method, agent: false, headers: payload === undefined ? headers : { ...headers, 'content-type': 'application/json' } }, (res) => {
      // The answer is its status; a server refusing a request early may close before reading its body.
      resolve(res.statusCode ?? 0)
      res.resume()
      res.on('error', () => undefined)
    })
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
    if (payload !== undefined) req.write(payload)
    req.end()
  })
}

async function counts (env: TestEnv): Promise<{ catalog: number, orders: number }> {
  const n = async (table: string): Promise<number> => Number((await env.db(table).count({ n: '*' }).first() as { n: number }).n)
  return { catalog: await n('users') + await n('products') + await n('seckill_events'), orders: await n('orders') }
}

const SEED = 20261123
t.test(`hostile input on every route (seed ${SEED}): 4xx, never 5xx, and no change without a 2xx`, async (t) => {
  const env = await testEnv(t, { RATE_LIMIT_LOGIN: '1000000' })
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 5 })
  const doc = (await http.request('GET', '/docs/json')).body as { paths: Record<string, Record<string, unknown>> }
  const routes = Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((m) => ({ path, method: m.toUpperCase() })))
    .filter((r) => !r.path.startsWith('/docs'))
  const r = rng(SEED)
  const tokens = ['', env.token(7), env.token(1, 'admin'), 'Bearer x.y.z', env.token('alice')]
  const before = await counts(env)
  const statuses = new Map<number | string, number>()
  let created = 0
  let bought = 0
  for (let i = 0; i < 1500; i++) {
    const route = routes[Math.floor(r() * routes.length)] as { path: string, method: string }
    let path = route.path.replace(/\{id\}/g, () => r() < 0.3 ? String(eventId) : segment(r))
    if (r() < 0.3) path += `?${['page', 'page_size', 'sort', 'wait', 'status', 'q', 'min_price'][Math.floor(r() * 7)] ?? 'x'}=${segment(r)}`
    const token = tokens[Math.floor(r() * tokens.length)] as string
    const headers: Record<string, string> = {}
    if (token !== '') headers.authorization = token.startsWith('Bearer ') ? token : `Bearer ${token}`
    if (r() < 0.2) headers['idempotency-key'] = text(value(r)).slice(0, 200).replace(/[^\x20-\x7e]/g, '?')
    if (r() < 0.05) headers['x-junk'] = 'j'.repeat(20_000)
    const status = await send(http.base, route.method, path, headers, route.method === 'GET' ? undefined : body(r))
    statuses.set(status, (statuses.get(status) ?? 0) + 1)
    if (status === 201) created++
    if (status === 202) bought++
    if (typeof status !== 'number' || status >= 500) t.fail(`${route.method} ${path.slice(0, 120)} answered ${status} (headers ${JSON.stringify(Object.keys(headers))}, body ${String(route.method === 'GET' ? 0 : 1)})`)
  }
  t.ok([...statuses.keys()].every((s) => typeof s === 'number' && s >= 200 && s < 500), `answers: ${JSON.stringify(Object.fromEntries(statuses))}`)
  await until(async () => await saleIdle(env, eventId, 1), 20_000, 'the buys the fuzz made to be decided')
  const after = await counts(env)
  t.ok(after.catalog - before.catalog <= created, `accounts, products, events grew by ${after.catalog - before.catalog}, at most the ${created} answered 201`)
  t.ok(after.orders - before.orders <= bought, `orders grew by ${after.orders - before.orders}, at most the ${bought} buys answered 202`)
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  for (const c of audit.checks) if (['I1', 'I2', 'I3', 'I4', 'I6'].includes(c.id)) t.ok(c.ok, `${c.id}: ${c.detail}`)
})
