/**
 * `npm run bench:cost`: CPU per request of two ingresses side by side, A and B (two builds, or two
 * settings of one), for a before/after that a busy machine cannot blur: both run at once on one
 * Redis and one MySQL, and their short timed runs alternate (A B, then B A, ...), so a change in
 * the machine's load falls on both. Each run is metered (cpu-time.ts: the ingress's CPU from
 * /proc, and Redis's); the bare route and the one-Lua route (baseline-server.ts) are measured in
 * every pair too, as references. The worker is paused during the runs (the ingress's own cost is
 * compared; admitted tickets wait in their queue).
 *
 * Paths: the trivial route (GET /api/v1/time: what the ingress adds to any request), the
 * admitted buy (a sale with stock to spare, a new buyer each request), the sold-out answer (a sale
 * this ingress remembers sold out, buyers holding no ticket) and the poll of a queued ticket.
 *
 * Options (environment): BENCH_A_ROOT, BENCH_B_ROOT (a built checkout; default this one),
 * BENCH_A_NODE_ARGS, BENCH_B_NODE_ARGS (flags of each ingress's node, space-separated),
 * BENCH_A_ENV, BENCH_B_ENV (settings, `K=V,K=V`), BENCH_PATHS (names, comma-separated; default all),
 * BENCH_PAIRS (6), BENCH_SECONDS (2),
 * BENCH_CONNECTIONS (100), BENCH_PORT (18680), REDIS_URL, DATABASE_URL.
 */
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { dropDatabase, withDatabase } from '../src/db/knex'
import { createKeySpace } from '../src/redis/keys'
import { deleteKeysWithPrefix } from '../src/redis/client'
import { createTokenSigner } from '../src/http/auth'
import { startBaseline, startService } from './processes'
import type { Child, ServiceBuild } from './processes'
import { api, createEvent, timedRun, waitDecided } from './scenarios'
import type { Rate } from './scenarios'
import { envNumber, median } from './results-file'
import { BENCH_PAYMENT_SETTINGS } from './payment-settings'

const PAIRS = envNumber('BENCH_PAIRS', 6)
const SECONDS = envNumber('BENCH_SECONDS', 2)
const C = envNumber('BENCH_CONNECTIONS', 100)
const PORT = envNumber('BENCH_PORT', 18680)
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const DATABASE_URL = withDatabase(process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/seckill', 'seckill_bench_cost')

const settings = (raw: string | undefined): Record<string, string> =>
  Object.fromEntries((raw ?? '').split(',').filter((kv) => kv.includes('=')).map((kv) => [kv.slice(0, kv.indexOf('=')).trim(), kv.slice(kv.indexOf('=') + 1).trim()]))
const build = (side: 'A' | 'B'): ServiceBuild => ({
  root: process.env[`BENCH_${side}_ROOT`],
  nodeArgs: (process.env[`BENCH_${side}_NODE_ARGS`] ?? '').split(' ').filter((a) => a !== '')
})

type Path = 'bare route' | 'one Lua call' | 'trivial route' | 'admitted buy' | 'sold-out answer' | 'poll of a queued ticket'
const ALL_PATHS: readonly Path[] = ['bare route', 'one Lua call', 'trivial route', 'admitted buy', 'sold-out answer', 'poll of a queued ticket']
/** BENCH_PATHS (comma-separated names) narrows the run; the two references are always measured. */
const ASKED = process.env.BENCH_PATHS?.split(',').map((x) => x.trim()).filter((x) => x !== '')
const UNKNOWN = ASKED?.filter((x) => !(ALL_PATHS as readonly string[]).includes(x)) ?? []
if (UNKNOWN.length > 0) {
  process.stderr.write(`bench:cost: BENCH_PATHS names no path ${UNKNOWN.join(', ')}; the paths are: ${ALL_PATHS.join(', ')}\n`)
  process.exit(2)
}
const REFERENCES: readonly Path[] = ['bare route', 'one Lua call']
const PATHS: readonly Path[] = ALL_PATHS.filter((p) => REFERENCES.includes(p) || ASKED === undefined || ASKED.includes(p))

async function main (): Promise<void> {
  await dropDatabase(DATABASE_URL)
  const secret = randomBytes(24).toString('hex')
  const prefix = `benchab${randomBytes(3).toString('hex')}`
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
    // The machine's other work must not shed the bench's requests.
    OVERLOAD_EVENT_LOOP_DELAY_MS: '0'
  }
  const redis = new Redis(REDIS_URL)
  const keys = createKeySpace(prefix)
  const children: Child[] = []
  try {
    const baseline = await startBaseline(PORT + 9, REDIS_URL)
    children.push(baseline)
    const a = await startService(PORT, { ...env, ...settings(process.env.BENCH_A_ENV), PROCESS_ROLE: 'ingress' }, undefined, '/readyz', PORT, build('A'))
    children.push(a)
    const b = await startService(PORT + 4, { ...env, ...settings(process.env.BENCH_B_ENV), PROCESS_ROLE: 'ingress', METRICS_PORT: '0' }, undefined, '/readyz', PORT + 4, build('B'))
    children.push(b)
    const worker = await startService(PORT + 2, { ...env, PROCESS_ROLE: 'worker', METRICS_PORT: String(PORT + 3) }, undefined, '/metrics', PORT + 3)
    children.push(worker)

    const admin = sign({ id: '1', role: 'admin' })
    const big = await createEvent(api(a.url), admin, 10_000_000, 1)
    const gone = await createEvent(api(a.url), admin, 1, 1)
    await api(a.url).call('POST', `/api/v1/events/${gone}/buy`, sign({ id: '42', role: 'user' }))
    await waitDecided(redis, keys, gone, 1, 30_000)
    for (const side of [a, b]) {
      const deadline = Date.now() + 10_000
      while ((await api(side.url).call('GET', `/api/v1/events/${gone}`, admin)).data.status !== 'sold_out' && Date.now() < deadline) await sleep(20)
    }
    await sleep(500) // each ingress loads the holders on the announcement
    // Queued tickets to poll: buyers admitted while the worker is paused.
    worker.process.kill('SIGSTOP')
    const pollers = Array.from({ length: 2000 }, (_, i) => String(900_000 + i))
    const polled: string[] = []
    for (let i = 0; i < pollers.length; i += 100) {
      polled.push(...await Promise.all(pollers.slice(i, i + 100).map(async (u) => (await api(a.url).call('POST', `/api/v1/events/${big}/buy`, sign({ id: u, role: 'user' }))).data.ticket_id as string)))
    }
    const pollTokens = pollers.map((u) => sign({ id: u, role: 'user' }))

    // A distinct buyer per request, never seen before, on either side.
    let nextUser = 10_000_000
    const fresh = (): ((i: number) => string) => {
      const first = nextUser
      nextUser += 100_000
      return (i) => sign({ id: String(first + (i % 100_000)), role: 'user' })
    }
    const run = async (side: Child, path: Path): Promise<Rate> => {
      const metered = { pids: { service: side.process.pid }, redis }
      const token = fresh()
      switch (path) {
        case 'bare route': return await timedRun(baseline.url, SECONDS, C, 'GET', () => '/baseline', token, { pids: { service: baseline.process.pid } })
        case 'one Lua call': return await timedRun(baseline.url, SECONDS, C, 'GET', () => '/one-lua', token, { pids: { service: baseline.process.pid }, redis })
        // The ingress's own cost of a request (its hooks, logger, metrics, request id, envelope): a route that does nothing else.
        case 'trivial route': return await timedRun(side.url, SECONDS, C, 'GET', () => '/api/v1/time', token, metered)
        case 'admitted buy': return await timedRun(side.url, SECONDS, C, 'POST', () => `/api/v1/events/${big}/buy`, token, metered)
        case 'sold-out answer': return await timedRun(side.url, SECONDS, C, 'POST', () => `/api/v1/events/${gone}/buy`, token, metered)
        case 'poll of a queued ticket': return await timedRun(side.url, SECONDS, C, 'GET', (i) => `/api/v1/tickets/${polled[i % polled.length] ?? ''}`, (i) => pollTokens[i % pollTokens.length] as string, metered)
      }
    }
    // Warm-up (JIT) of every path on both sides, unmetered.
    for (const path of PATHS) for (const side of [a, b]) await run(side, path)
    const results = new Map<Path, { a: Rate[], b: Rate[] }>(PATHS.map((p) => [p, { a: [], b: [] }]))
    for (let pair = 0; pair < PAIRS; pair++) {
      for (const path of PATHS) {
        const r = results.get(path) as { a: Rate[], b: Rate[] }
        const order: Array<['a' | 'b', Child]> = pair % 2 === 0 ? [['a', a], ['b', b]] : [['b', b], ['a', a]]
        // The references do not depend on the side: one run each per pair.
        if (path === 'bare route' || path === 'one Lua call') {
          const ref = await run(a, path)
          r.a.push(ref)
          r.b.push(ref)
          continue
        }
        for (const [name, side] of order) r[name].push(await run(side, path))
      }
      const line = PATHS.map((p) => {
        const r = results.get(p) as { a: Rate[], b: Rate[] }
        return `${p} ${us(r.a.at(-1))}/${us(r.b.at(-1))} µs`
      })
      process.stdout.write(`pair ${pair + 1}/${PAIRS}: ${line.join(', ')}\n`)
    }
    worker.process.kill('SIGCONT')
    process.stdout.write('\n' + report(results) + '\n')
  } finally {
    for (const c of children.reverse()) {
      c.process.kill('SIGCONT')
      await c.stop()
    }
    await deleteKeysWithPrefix(redis, `${prefix}:`)
    redis.disconnect()
  }
}

const us = (r: Rate | undefined, name = 'service'): string => (r?.cpuUs?.[name] ?? NaN).toFixed(0)

function stat (xs: number[], digits = 0): string {
  const v = xs.filter((x) => Number.isFinite(x))
  return v.length === 0 ? '–' : `${median(v).toFixed(digits)} (${Math.min(...v).toFixed(digits)}–${Math.max(...v).toFixed(digits)})`
}

function report (results: Map<Path, { a: Rate[], b: Rate[] }>): string {
  const cpu = (rs: Rate[], name = 'service'): number[] => rs.map((r) => r.cpuUs?.[name] ?? NaN)
  const bare = cpu((results.get('bare route') as { a: Rate[] }).a)
  const oneLua = cpu((results.get('one Lua call') as { a: Rate[] }).a)
  const rows = [...results].map(([path, r]) => {
    const a = cpu(r.a)
    const b = cpu(r.b)
    const same = path === 'bare route' || path === 'one Lua call'
    return `| ${path} | ${stat(r.a.map((x) => x.reqPerSec))} | ${same ? '' : stat(r.b.map((x) => x.reqPerSec))} | ${stat(a)} | ${same ? '' : stat(b)} | ${same ? '' : stat(b.map((x, i) => x / (a[i] as number)), 2)} | ` +
      `${same ? '' : `${stat(a.map((x, i) => x / (bare[i] as number)), 2)} / ${stat(b.map((x, i) => x / (bare[i] as number)), 2)}`} | ` +
      `${same ? '' : `${stat(a.map((x, i) => x / (oneLua[i] as number)), 2)} / ${stat(b.map((x, i) => x / (oneLua[i] as number)), 2)}`} | ${stat(cpu(r.a, 'redis'))}${same ? '' : ` / ${stat(cpu(r.b, 'redis'))}`} |`
  })
  return [
    `${PAIRS} pairs of ${SECONDS} s runs, ${C} connections; median (min–max) of the pairs. A: ${process.env.BENCH_A_ROOT ?? 'this checkout'} ${process.env.BENCH_A_NODE_ARGS ?? ''} ${process.env.BENCH_A_ENV ?? ''}; B: ${process.env.BENCH_B_ROOT ?? 'this checkout'} ${process.env.BENCH_B_NODE_ARGS ?? ''} ${process.env.BENCH_B_ENV ?? ''}.`,
    '',
    '| path | A req/s | B req/s | A µs/req | B µs/req | B / A (per pair) | × bare, A / B | × one-Lua, A / B | Redis µs/req, A / B |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows
  ].join('\n')
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:cost failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
