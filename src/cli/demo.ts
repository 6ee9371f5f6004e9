/**
 * `npm run demo`, against a running `npm start` (same settings, same machine): a sale a newcomer
 * can watch happen on the pages without reading the API.
 *
 *   npm run demo                     a product and a sale of 20 units that starts in 60 s, and the
 *                                    pages to open (sign up on the buyer page, Buy at the start)
 *   npm run demo -- --crowd 500      the same, and at the start 500 buyers at once, then the outcome
 *
 * Options: --in <seconds> (60), --stock <units> (20), --crowd <buyers> (0), --url <service>
 * (http://127.0.0.1:$PORT). The operator signs in as demo-admin@example.com with a password made
 * here and printed once (set in the database as `create-admin` does). The crowd's buyers are
 * accounts that only exist in their tokens, signed with this deployment's key (JWT_SECRET or the
 * development secret in its database), as the benchmark's are: the service treats them as any
 * buyer, and their orders are real.
 */
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { loadConfig } from '../config'
import { createDb } from '../db/knex'
import { developmentJwtSecret } from '../db/development-secret'
import { setAdmin, usersRepository } from '../identity'
import { createTokenSigner } from '../http/auth'

const DEMO_ADMIN = 'demo-admin@example.com'
/** Buyer ids of the crowd: far above any registered account's. */
const CROWD_FIRST_ID = 900_000_000

export class DemoError extends Error {}

interface Answer { readonly status: number, readonly body: { data?: Record<string, unknown>, code?: string, message?: string } }

async function call (base: string, method: string, path: string, token?: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {}
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
  return { status: res.status, body: await res.json().catch(() => ({})) as Answer['body'] }
}

function expect (answer: Answer, status: number, what: string): Record<string, unknown> {
  if (answer.status !== status) throw new DemoError(`${what}: the service answered ${answer.status} ${answer.body.code ?? ''} ${answer.body.message ?? ''}`.trim())
  return answer.body.data ?? {}
}

export interface DemoOptions {
  readonly base: string
  readonly startInSeconds: number
  readonly stock: number
  readonly crowd: number
  readonly out: (line: string) => void
}

export interface DemoResult {
  readonly eventId: number
  readonly won: number
  readonly soldOut: number
  readonly other: number
}

export async function runDemo (opts: DemoOptions): Promise<DemoResult> {
  const { base, out } = opts
  const healthy = await fetch(`${base}/readyz`).then((r) => r.ok, () => false)
  if (!healthy) throw new DemoError(`no ready service answers at ${base}: start it with \`npm start\` (or pass --url)`)
  const config = loadConfig()
  const db = createDb(config.databaseUrl, { poolMax: 1 })
  let secret: string
  const password = randomBytes(15).toString('base64url')
  try {
    secret = config.jwtSecret ?? await developmentJwtSecret(db)
    await setAdmin({ users: usersRepository(db) }, DEMO_ADMIN, password)
  } finally {
    await db.destroy()
  }
  const admin = expect(await call(base, 'POST', '/api/v1/auth/login', undefined, { email: DEMO_ADMIN, password }), 200, 'signing in as the demo admin').access_token as string
  const product = expect(await call(base, 'POST', '/api/v1/admin/products', admin, { title: 'Demo sneaker', price_cents: 19900 }), 201, 'creating the product')
  const startAt = new Date(Math.ceil((Date.now() + opts.startInSeconds * 1000) / 1000) * 1000)
  const event = expect(await call(base, 'POST', '/api/v1/admin/events', admin, {
    product_id: product.id, title: 'Demo drop', price_cents: 9900, stock: opts.stock,
    start_at: startAt.toISOString(), end_at: new Date(startAt.getTime() + 3_600_000).toISOString()
  }), 201, 'creating the sale')
  const eventId = Number(event.id)
  out(`Sale ${eventId} "Demo drop": ${opts.stock} units, starts at ${startAt.toISOString()} (in ${opts.startInSeconds} s).`)
  out(`  Buyer page     ${base}/#/events/${eventId}   (sign up there, press Buy when it opens)`)
  out(`  Operator page  ${base}/ops   (${DEMO_ADMIN}, password ${password})`)
  if (opts.crowd <= 0) return { eventId, won: 0, soldOut: 0, other: 0 }

  const sign = createTokenSigner(secret)
  const tokens = Array.from({ length: opts.crowd }, (_, i) => sign({ id: String(CROWD_FIRST_ID + eventId * 100_000 + i), role: 'user' }))
  while (Date.now() < startAt.getTime()) {
    const left = startAt.getTime() - Date.now()
    if (left > 10_000) out(`  the crowd of ${opts.crowd} buys in ${Math.round(left / 1000)} s`)
    await sleep(Math.min(10_000, left))
  }
  out(`  ${opts.crowd} buyers press Buy`)
  const tickets = await inBatches(tokens, 100, async (token) => {
    const answer = await call(base, 'POST', `/api/v1/events/${eventId}/buy`, token)
    return { token, ticket: answer.body.data?.ticket_id as string | undefined, status: answer.status }
  })
  const outcomes = await inBatches(tickets, 100, async ({ token, ticket }) => {
    if (ticket === undefined) return 'refused'
    for (;;) {
      const answer = await call(base, 'GET', `/api/v1/tickets/${encodeURIComponent(ticket)}?wait=10000`, token)
      const status = String(answer.body.data?.status ?? `http ${answer.status}`)
      if (status !== 'queued') return status
    }
  })
  const count = (s: string): number => outcomes.filter((o) => o === s).length
  const result = { eventId, won: count('won'), soldOut: count('sold_out'), other: outcomes.length - count('won') - count('sold_out') }
  out(`  outcome: ${result.won} won, ${result.soldOut} sold out${result.other > 0 ? `, ${result.other} other (${[...new Set(outcomes.filter((o) => o !== 'won' && o !== 'sold_out'))].join(', ')})` : ''}`)
  return result
}

async function inBatches<T, R> (items: readonly T[], size: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = []
  for (let i = 0; i < items.length; i += size) results.push(...await Promise.all(items.slice(i, i + size).map(fn)))
  return results
}

async function main (): Promise<void> {
  const { values } = parseArgs({
    options: { in: { type: 'string', default: '60' }, stock: { type: 'string', default: '20' }, crowd: { type: 'string', default: '0' }, url: { type: 'string' } }
  })
  const n = (name: string, v: string | undefined, min: number, max: number): number => {
    const x = Number(v)
    if (!Number.isInteger(x) || x < min || x > max) throw new DemoError(`--${name} must be a whole number from ${min} to ${max}`)
    return x
  }
  const config = loadConfig()
  await runDemo({
    base: (values.url ?? `http://127.0.0.1:${config.port}`).replace(/\/$/, ''),
    startInSeconds: n('in', values.in, 1, 86_400),
    stock: n('stock', values.stock, 1, 100_000),
    crowd: n('crowd', values.crowd, 0, 100_000),
    out: (line) => process.stdout.write(`${line}\n`)
  })
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(err instanceof DemoError ? 2 : 1)
  })
}
