/**
 * Drill 6: hostile input during a sale. One abusive buyer hammers the buy route far past its
 * quota while honest buyers buy; a volley of malformed requests (bad JSON, oversized bodies,
 * wrong types, huge headers, SQL- and Lua-looking strings, absurd numbers, guessable passwords,
 * forged refresh tokens and logouts, /metrics on the public port, malformed bans and audit
 * queries, and a banned buyer buying on) hits every kind of route. Expected: only 4xx for the bad requests, 429 with Retry-After for the abuser past the
 * quota, honest buyers neither limited nor slowed, and no state changed by any bad request.
 *
 * Issue 30's findings, replayed: (1) long l33t passwords; (2) a pre-registrant of the operator's
 * address keeps no session once the account is promoted from the environment; (3) a banned
 * buyer's access token reads and pays nothing; (7) production refuses to start with a
 * placeholder or low-variety secret; (8) out-of-range numbers (`min_price=1e400`) answer 400.
 * (The seeded 1,500-request fuzz over every route is `test/http/fuzz.test.ts`.)
 */
import { request as rawRequest } from 'node:http'
import { spawn } from 'node:child_process'
import { repoPath } from '../../src/util/paths'
import type { Drill } from './harness'
import { withSale } from './harness'
import { pool } from '../../test/helpers/sale'
import type { DrillSale } from './harness'

const BUY_QUOTA = 20

function p99 (ms: number[]): number {
  const sorted = [...ms].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))] ?? 0
}

/** Honest buyers, timed; returns their latencies and how many were rate limited. */
async function honest (sale: DrillSale, from: number, count: number): Promise<{ ms: number[], limited: number }> {
  const ms: number[] = []
  let limited = 0
  await pool(Array.from({ length: count }, (_, i) => String(from + i)), 10, async (u) => {
    const t0 = performance.now()
    const r = await sale.http().request('POST', `/api/v1/events/${sale.eventId}/buy`, { token: sale.env.token(u) })
    ms.push(performance.now() - t0)
    sale.requests++
    if (r.status < 500) sale.served++
    if (r.status === 429) limited++
    const record = { user: u, tickets: new Set<string>(), status: undefined as string | undefined }
    if (r.status === 200 || r.status === 202) record.tickets.add(r.body.data.ticket_id as string)
    sale.buyers.set(u, record)
  })
  return { ms, limited }
}

/**
 * A raw request (for bodies and headers fetch will not send), answered status or 0. Each on a
 * connection of its own (`agent: false`): with Node's keep-alive global agent, 1 request of the
 * volley (a refresh or a logout, in 4 runs of 4) ended "socket hang up" with no status, and none
 * in 3 runs of 3 with a fresh connection each; the service answered the same requests every time
 * when sent alone or 300 at once.
 */
async function raw (base: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<number> {
  const url = new URL(path, base)
  return await new Promise((resolve) => {
    const req = rawRequest({ host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers: { ...headers, connection: 'close' }, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', () => resolve(0))
    if (body !== undefined) req.end(body)
    else req.end()
  })
}

/** Issue 30, item 7: a production start with `secret` as JWT_SECRET; its exit status and output. */
async function productionStart (sale: DrillSale, secret: string): Promise<{ code: number | null, output: string }> {
  const child = spawn(process.execPath, [repoPath('dist', 'src', 'server.js')], {
    env: { PATH: process.env.PATH ?? '', ...sale.env.env, NODE_ENV: 'production', JWT_SECRET: secret, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr.on('data', (d: Buffer) => { output += d.toString() })
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  clearTimeout(timer)
  return { code, output }
}

/**
 * Issue 30, item 2: someone registers the operator's address first; the operator then starts a
 * process with ADMIN_EMAIL/ADMIN_PASSWORD set to that account's password. The account becomes
 * admin, and the pre-registrant's tokens (access and refresh) must stop working.
 */
async function preRegistrant (sale: DrillSale): Promise<{ ok: boolean, what: string }> {
  const email = 'ops-drill@example.com'
  const password = 'tangerine orbit cellar whistle'
  const reg = await sale.http().request('POST', '/api/v1/auth/register', { body: { email, password } })
  if (reg.status !== 201) return { ok: false, what: `the pre-registration answered ${reg.status}` }
  const access = reg.body.data.access_token as string
  const refresh = reg.body.data.refresh_token as string
  const operator = await sale.process('ingress', { ADMIN_EMAIL: email, ADMIN_PASSWORD: password })
  const me = await sale.http().request('GET', '/api/v1/me', { token: access })
  const refreshed = await sale.http().request('POST', '/api/v1/auth/refresh', { body: { refresh_token: refresh } })
  await operator.stop()
  const role = (await sale.env.db('users').first('role').where({ email }) as { role: string } | undefined)?.role
  return {
    ok: role === 'admin' && me.status === 401 && refreshed.status === 401,
    what: `the account promoted (${role ?? 'missing'}); the pre-registrant's access token ${me.status}, refresh ${refreshed.status}`
  }
}

async function stateCounts (sale: DrillSale): Promise<string> {
  const [products, events, orders] = await Promise.all(['products', 'seckill_events', 'orders'].map(async (t) =>
    Number((await sale.env.db(t).count({ n: '*' }).first() as { n: number | string }).n)))
  const holders = await sale.env.redis.hlen(sale.env.keys.shard({ eventId: sale.eventId, shard: 0 }).holders)
  return `products ${products}, events ${events}, orders ${orders}, ticket holders ${holders}`
}

export const hostileInput: Drill = {
  name: 'hostile-input',
  // Registrations from the drill's one address: the volley's weak passwords and the pre-registrant
  // must reach the password check, not the per-address register limit.
  run: async () => await withSale({ RATE_LIMIT_BUY: String(BUY_QUOTA), RATE_LIMIT_WINDOW_MS: '60000', RATE_LIMIT_REGISTER: '50' }, { stock: 1000 }, async (sale) => {
    await sale.process('all')
    await sale.createEvent()
    const quiet = await honest(sale, 80_000, 400)

    const base = sale.http().base
    const user = sale.env.token('80999')
    const admin = sale.env.token('1', 'admin')
    const json = { 'content-type': 'application/json' }
    // A buyer the operator banned before the volley; its buys must all be refused.
    const reg = await sale.http().request('POST', '/api/v1/auth/register', { body: { email: 'scalper@example.com', password: 'copper kettle orbit marsh' } })
    const banned = { id: String(reg.body.data.user.id), access: String(reg.body.data.access_token), family: String(reg.body.data.refresh_token).split('.')[0] ?? '' }
    const ban = await sale.http().request('POST', `/api/v1/admin/users/${banned.id}/ban`, { token: admin, body: { reason: 'scalping' } })
    if (ban.status !== 200) throw new Error(`ban: ${ban.status}`)
    const buyPath = `/api/v1/events/${sale.eventId}/buy`
    const volley: Array<() => Promise<number>> = []
    /** What each volley entry sends (method and path), to name the ones answered wrong. */
    const sent: string[] = []
    const send = (method: string, path: string, headers: Record<string, string>, body?: string): void => {
      sent.push(`${method} ${path.slice(0, 60)}${body === undefined ? '' : ` (${body.length} B)`}`)
      volley.push(async () => await raw(base, method, path, headers, body))
    }
    const nasty = ["' OR '1'='1", 'redis.call("FLUSHALL")', '-1', '1e309', '99999999999999999999999', '😀'.repeat(40), '../../etc/passwd', '%00']
    for (const s of nasty) {
      send('POST', `/api/v1/events/${encodeURIComponent(s)}/buy`, { authorization: `Bearer ${user}` })
      send('GET', `/api/v1/tickets/${encodeURIComponent(s)}`, { authorization: `Bearer ${user}` })
      send('POST', '/api/v1/admin/events', { ...json, authorization: `Bearer ${admin}` }, JSON.stringify({ product_id: s, title: s, price_cents: s, stock: -5, start_at: s, end_at: s }))
      send('POST', '/api/v1/auth/login', json, JSON.stringify({ email: s, password: s }))
    }
    send('POST', '/api/v1/admin/products', { ...json, authorization: `Bearer ${admin}` }, '{"title": ')
    send('POST', '/api/v1/admin/products', { ...json, authorization: `Bearer ${admin}` }, 'x'.repeat(2_000_000))
    send('POST', '/api/v1/admin/products', { ...json, authorization: `Bearer ${user}` }, JSON.stringify({ title: 'x', price_cents: 1 }))
    send('POST', buyPath, { authorization: `Bearer ${user}`, 'x-huge': 'h'.repeat(32_000) })
    send('POST', buyPath, { authorization: 'Bearer not.a.jwt' })
    send('POST', buyPath, { authorization: `Bearer ${user}`, 'idempotency-key': 'k'.repeat(5000) })
    send('GET', `/api/v1/tickets/${sale.eventId}-0-1?wait=-1`, { authorization: `Bearer ${user}` })
    // Security controls: guessable passwords, forged refresh tokens (a family id alone must not
    // sign anyone out), metrics on the public port, malformed admin calls, a banned buyer.
    // Issue 30: a 128-character l33t password (once stalled the event loop for a second each) and
    // the README's old example password (published, so refused).
    for (const password of ['password', '12345678', 'hostile@example.com', 'p@$$w0rd'.repeat(16), 'a long operator password']) {
      send('POST', '/api/v1/auth/register', json, JSON.stringify({ email: 'hostile@example.com', password }))
    }
    const forged = JSON.stringify({ refresh_token: `${'f'.repeat(22)}.${'s'.repeat(43)}` })
    send('POST', '/api/v1/auth/refresh', json, forged)
    send('POST', '/api/v1/auth/logout', json, JSON.stringify({ refresh_token: `${banned.family}.${'s'.repeat(43)}` }))
    send('GET', '/metrics', {})
    send('POST', `/api/v1/admin/users/${banned.id}/ban`, { ...json, authorization: `Bearer ${admin}` }, JSON.stringify({ reason: '   ' }))
    send('POST', `/api/v1/admin/users/${banned.id}/ban`, { ...json, authorization: `Bearer ${user}` }, JSON.stringify({ reason: 'a buyer banning' }))
    send('GET', `/api/v1/admin/audit?action=${encodeURIComponent("x' OR 1=1 --")}`, { authorization: `Bearer ${admin}` })
    for (let i = 0; i < 20; i++) send('POST', buyPath, { authorization: `Bearer ${banned.access}` })
    // Issue 30, item 3: the banned buyer's access token (issued before the ban) reads and pays nothing.
    send('GET', '/api/v1/orders', { authorization: `Bearer ${banned.access}` })
    send('GET', '/api/v1/me', { authorization: `Bearer ${banned.access}` })
    send('POST', '/api/v1/orders/1/pay', { authorization: `Bearer ${banned.access}` })
    send('POST', '/api/v1/me/sessions/revoke', { authorization: `Bearer ${banned.access}` })
    // Issue 30, item 8: numbers out of every range (Infinity once reached SQL: 500 and a stack).
    for (const n of ['1e400', '-1e400', '1e20', 'Infinity']) {
      send('GET', `/api/v1/products?min_price=${n}`, {})
      send('GET', `/api/v1/products?max_price=${n}&page=${n}`, {})
      send('GET', `/api/v1/events?page_size=${n}`, {})
      send('GET', `/api/v1/events/${sale.eventId}/ticket?x=${n}`, { authorization: `Bearer ${user}` })
      send('GET', `/api/v1/tickets/${sale.eventId}-0-1?wait=${n}`, { authorization: `Bearer ${user}` })
      send('POST', '/api/v1/admin/products', { ...json, authorization: `Bearer ${admin}` }, `{"title":"x","price_cents":${n === 'Infinity' ? '1e999' : n}}`)
    }
    send('GET', '/api/v1/products/9999999999999999', {})

    const before = await stateCounts(sale)
    const abuser = sale.env.token('81000')
    let abuserOk = 0
    let abuserLimited = 0
    let limitedWithoutRetryAfter = 0
    const abuse = pool(Array.from({ length: 600 }, (_, i) => i), 20, async () => {
      const r = await sale.http().request('POST', buyPath, { token: abuser })
      if (r.status === 429) {
        abuserLimited++
        if (r.headers.get('retry-after') === null) limitedWithoutRetryAfter++
      } else if (r.status < 300) abuserOk++
    })
    const statuses = await pool(volley, 8, async (request) => await request())
    const busy = await honest(sale, 90_000, 400)
    await abuse
    const after = await stateCounts(sale)
    sale.buyers.set('81000', { user: '81000', tickets: new Set(), status: undefined })

    const promotion = await preRegistrant(sale)
    const placeholder = await productionStart(sale, 'replace-with-32-or-more-random-characters')
    const repeated = await productionStart(sale, 'a'.repeat(40))
    const refusedSecrets = placeholder.code === 2 && /JWT_SECRET: a published placeholder/.test(placeholder.output) &&
      repeated.code === 2 && /JWT_SECRET: too little variety/.test(repeated.output)
    const bannedHolds = await sale.env.redis.hexists(sale.env.keys.shard({ eventId: sale.eventId, shard: 0 }).holders, banned.id)
    const recoverMs = await sale.settle()
    const bad = statuses.flatMap((s, i) => s === 0 || s >= 500 || s < 400 ? [`${s} for ${sent[i] ?? '?'}`] : [])
    return await sale.verdict({
      name: 'hostile-input',
      broke: `${volley.length} malformed requests and one buyer sending 600 buys (quota ${BUY_QUOTA} a minute) during the sale`,
      brokenMs: 0,
      recoverMs,
      extra: [
        { what: `every malformed request answered 4xx (${bad.length} not${bad.length === 0 ? '' : `: ${bad.join('; ')}`})`, ok: bad.length === 0 },
        { what: `the abuser held to the quota (${abuserOk} answered, ${abuserLimited} limited, ${limitedWithoutRetryAfter} 429s without Retry-After)`, ok: abuserOk <= BUY_QUOTA && abuserLimited >= 600 - BUY_QUOTA && limitedWithoutRetryAfter === 0 },
        { what: `the banned buyer got no ticket (${bannedHolds === 1 ? 'it holds one' : 'none'})`, ok: bannedHolds === 0 },
        { what: `a pre-registrant of the operator's address keeps no session: ${promotion.what}`, ok: promotion.ok },
        { what: `production refuses the example's placeholder secret and 40 × a (exit ${String(placeholder.code)} and ${String(repeated.code)})`, ok: refusedSecrets },
        { what: `honest buyers not limited (${quiet.limited + busy.limited} limited)`, ok: quiet.limited + busy.limited === 0 },
        { what: `honest buyers not slowed: p99 ${p99(busy.ms).toFixed(1)} ms under abuse vs ${p99(quiet.ms).toFixed(1)} ms quiet`, ok: p99(busy.ms) <= Math.max(5 * p99(quiet.ms), 100) },
        { what: `bad requests changed nothing (before: ${before}; after, less the honest buyers: ${after})`, ok: sameBesidesHolders(before, after, 400 + 1) }
      ]
    })
  })
}

/** Counts equal except ticket holders, which grow by exactly the honest buyers and the abuser. */
function sameBesidesHolders (before: string, after: string, newHolders: number): boolean {
  const nums = (s: string): number[] => [...s.matchAll(/\d+/g)].map((m) => Number(m[0]))
  const [b, a] = [nums(before), nums(after)]
  return b.slice(0, 2).join() === a.slice(0, 2).join() && (a[3] ?? 0) - (b[3] ?? 0) === newHolders
}
