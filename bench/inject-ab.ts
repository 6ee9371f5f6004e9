/**
 * `node dist/bench/inject-ab.js`: the JavaScript cost per request of two builds' ingresses, A and
 * B, in one process, for changes too small for `npm run bench:cost` on a busy machine (issue 35).
 *
 * Both ingresses run in this process (each from its own checkout's dist/, on one Redis and one
 * MySQL); requests go in through Fastify's `inject` (no sockets: what is measured is the request's
 * JavaScript, the part a change to hooks, logging or metrics moves), `BENCH_CONCURRENCY` at a
 * time. Runs of `BENCH_REQUESTS` alternate A B, B A, ... for `BENCH_ROUNDS` rounds, each timed by
 * this process's CPU (process.cpuUsage), so the machine's load falls on both sides within
 * seconds. The figure includes inject's own work (the same on both sides): differences in µs per
 * request are the change's, ratios understate it. The worker runs apart and is paused during the
 * runs, as in bench:cost.
 *
 * Run with `node --expose-gc`: each run then starts from a collected heap.
 *
 * Options (environment): BENCH_A_ROOT, BENCH_B_ROOT (built checkouts; default this one),
 * BENCH_ROUNDS (10), BENCH_REQUESTS (2000), BENCH_CONCURRENCY (100), BENCH_PORT (18880),
 * REDIS_URL, DATABASE_URL.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { dropDatabase, withDatabase } from '../src/db/knex'
import { createKeySpace } from '../src/redis/keys'
import { deleteKeysWithPrefix } from '../src/redis/client'
import { createTokenSigner } from '../src/http/auth'
import { repoPath } from '../src/util/paths'
import { startService } from './processes'
import type { Child } from './processes'
import { waitDecided } from './scenarios'
import { envNumber, median } from './results-file'
import { BENCH_PAYMENT_SETTINGS } from './payment-settings'

const ROUNDS = envNumber('BENCH_ROUNDS', 10)
const REQUESTS = envNumber('BENCH_REQUESTS', 2000)
const CONCURRENCY = envNumber('BENCH_CONCURRENCY', 100)
const PORT = envNumber('BENCH_PORT', 18880)
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const DATABASE_URL = withDatabase(process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/seckill', 'seckill_bench_inject')

interface Side { readonly name: 'A' | 'B', readonly app: FastifyInstance, readonly stop: () => Promise<void> }
type Path = 'admitted buy' | 'sold-out answer' | 'poll of a queued ticket'
const PATHS: readonly Path[] = ['admitted buy', 'sold-out answer', 'poll of a queued ticket']

interface Request { readonly method: 'GET' | 'POST', readonly url: string, readonly token: string }

async function startSide (name: 'A' | 'B', root: string, env: Record<string, string>): Promise<Side> {
  const { startService: start } = await import(join(root, 'dist', 'src', 'server.js')) as typeof import('../src/server')
  const { loadConfig } = await import(join(root, 'dist', 'src', 'config.js')) as typeof import('../src/config')
  const { createLogger } = await import(join(root, 'dist', 'src', 'logger.js')) as typeof import('../src/logger')
  const service = await start(loadConfig(env), createLogger('warn', `inject-${name}`))
  const app = service.ingress?.app
  if (app === undefined) throw new Error(`${name}: no ingress`)
  return { name, app, stop: service.stop }
}

async function call (app: FastifyInstance, r: Request, body?: unknown): Promise<{ status: number, json: { data?: Record<string, unknown> } }> {
  const res = await app.inject({ method: r.method, url: r.url, headers: { authorization: `Bearer ${r.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, payload: body === undefined ? undefined : JSON.stringify(body) })
  return { status: res.statusCode, json: res.json() }
}

/** CPU µs per request of `requests`, CONCURRENCY in flight; throws on an unexpected status. */
async function run (side: Side, requests: readonly Request[], expect: number): Promise<number> {
  // With --expose-gc, each run starts from a collected heap: no run pays for another's garbage.
  (globalThis as { gc?: () => void }).gc?.()
  const before = process.cpuUsage()
  let next = 0
  let wrong = 0
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < requests.length) {
      const r = requests[next++] as Request
      const res = await side.app.inject({ method: r.method, url: r.url, headers: { authorization: `Bearer ${r.token}` } })
      if (res.statusCode !== expect) wrong++
    }
  }))
  const spent = process.cpuUsage(before)
  if (wrong > 0) throw new Error(`${side.name}: ${wrong} of ${requests.length} answers were not ${expect}`)
  return (spent.user + spent.system) / requests.length
}

async function main (): Promise<void> {
  await dropDatabase(DATABASE_URL)
  const secret = randomBytes(24).toString('hex')
  const prefix = `benchinj${randomBytes(3).toString('hex')}`
  const sign = createTokenSigner(secret)
  const env = {
    NODE_ENV: 'production',
    ...BENCH_PAYMENT_SETTINGS,
    LOG_LEVEL: 'warn',
    REDIS_URL,
    REDIS_PREFIX: prefix,
    DATABASE_URL,
    JWT_SECRET: secret,
    RATE_LIMIT_BUY: '1000000',
    RATE_LIMIT_POLL: '1000000',
    SHUTDOWN_DRAIN_MS: '0',
    OVERLOAD_EVENT_LOOP_DELAY_MS: '0',
    METRICS_PORT: '0',
    PORT: '0',
    HOST: '127.0.0.1',
    PROCESS_ROLE: 'ingress'
  }
  const redis = new Redis(REDIS_URL)
  const keys = createKeySpace(prefix)
  const sides: Side[] = []
  let worker: Child | undefined
  try {
    worker = await startService(PORT, { ...env, PROCESS_ROLE: 'worker', PORT: String(PORT), METRICS_PORT: String(PORT + 1) }, undefined, '/metrics', PORT + 1)
    sides.push(await startSide('A', process.env.BENCH_A_ROOT ?? repoPath(), env))
    sides.push(await startSide('B', process.env.BENCH_B_ROOT ?? repoPath(), env))
    const [a, b] = sides as [Side, Side]

    const admin = sign({ id: '1', role: 'admin' })
    const event = async (stock: number): Promise<number> => {
      const product = await call(a.app, { method: 'POST', url: '/api/v1/admin/products', token: admin }, { title: 'Bench sneaker', price_cents: 19900 })
      const start = Date.now() - 1000
      const created = await call(a.app, { method: 'POST', url: '/api/v1/admin/events', token: admin }, {
        product_id: product.json.data?.id, title: 'Bench', price_cents: 9900, stock, shards: 1,
        start_at: new Date(start).toISOString(), end_at: new Date(start + 3_600_000).toISOString()
      })
      return created.json.data?.id as number
    }
    const big = await event(10_000_000)
    const gone = await event(1)
    await call(a.app, { method: 'POST', url: `/api/v1/events/${gone}/buy`, token: sign({ id: '42', role: 'user' }) })
    await waitDecided(redis, keys, gone, 1, 30_000)
    for (const side of sides) {
      const deadline = Date.now() + 10_000
      while ((await call(side.app, { method: 'GET', url: `/api/v1/events/${gone}`, token: admin })).json.data?.status !== 'sold_out' && Date.now() < deadline) await sleep(20)
    }
    await sleep(500)
    worker.process.kill('SIGSTOP')
    const pollers = Array.from({ length: 2000 }, (_, i) => String(900_000 + i))
    const polls: Request[] = []
    for (const u of pollers) {
      const token = sign({ id: u, role: 'user' })
      const ticket = (await call(a.app, { method: 'POST', url: `/api/v1/events/${big}/buy`, token })).json.data?.ticket_id as string
      polls.push({ method: 'GET', url: `/api/v1/tickets/${ticket}`, token })
    }

    // A distinct buyer per request, never seen before, on either side; tokens signed before the timing.
    let nextUser = 10_000_000
    const buyers = (url: string): Request[] => Array.from({ length: REQUESTS }, () => ({ method: 'POST', url, token: sign({ id: String(nextUser++), role: 'user' }) }))
    const runPath = async (side: Side, path: Path): Promise<number> => {
      switch (path) {
        case 'admitted buy': return await run(side, buyers(`/api/v1/events/${big}/buy`), 202)
        case 'sold-out answer': return await run(side, buyers(`/api/v1/events/${gone}/buy`), 200)
        case 'poll of a queued ticket': return await run(side, Array.from({ length: REQUESTS }, (_, i) => polls[i % polls.length] as Request), 200)
      }
    }
    for (const path of PATHS) for (const side of sides) await runPath(side, path)
    const results = new Map<Path, { a: number[], b: number[] }>(PATHS.map((p) => [p, { a: [], b: [] }]))
    for (let round = 0; round < ROUNDS; round++) {
      const line: string[] = []
      for (const path of PATHS) {
        const r = results.get(path) as { a: number[], b: number[] }
        for (const side of round % 2 === 0 ? [a, b] : [b, a]) r[side === a ? 'a' : 'b'].push(await runPath(side, path))
        line.push(`${path} ${(r.a.at(-1) as number).toFixed(1)}/${(r.b.at(-1) as number).toFixed(1)}`)
      }
      process.stdout.write(`round ${round + 1}/${ROUNDS}: ${line.join(', ')} µs\n`)
    }
    worker.process.kill('SIGCONT')
    const stat = (xs: number[], digits = 1): string => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`
    process.stdout.write(`\n${ROUNDS} rounds of ${REQUESTS} requests, ${CONCURRENCY} in flight; CPU µs per request of this process, median (min–max). A: ${process.env.BENCH_A_ROOT ?? 'this checkout'}; B: ${process.env.BENCH_B_ROOT ?? 'this checkout'}.\n\n`)
    process.stdout.write('| path | A µs/req | B µs/req | B − A µs (per round) | B / A (per round) |\n|---|---|---|---|---|\n')
    for (const [path, r] of results) {
      process.stdout.write(`| ${path} | ${stat(r.a)} | ${stat(r.b)} | ${stat(r.b.map((x, i) => x - (r.a[i] as number)))} | ${stat(r.b.map((x, i) => x / (r.a[i] as number)), 3)} |\n`)
    }
  } finally {
    worker?.process.kill('SIGCONT')
    for (const side of sides.reverse()) await side.stop().catch(() => {})
    await worker?.stop()
    await deleteKeysWithPrefix(redis, `${prefix}:`)
    redis.disconnect()
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`inject-ab failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
