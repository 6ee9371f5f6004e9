/**
 * `npm run bench`: the flash-crowd benchmark.
 *
 * In one run, on this machine: a plain Fastify route (the baseline) and the service (ingress and
 * drain in one process, as `npm start` runs it) are started as child processes; this process is
 * the load generator (autocannon). Each round creates a fresh sale and sends a crowd of distinct
 * buyers (one signed JWT each) at full speed, then waits until every ticket is final and audits
 * the sale (I1–I7) from MySQL and Redis. Figures are medians of the rounds with min–max, and
 * request rates are also given as a ratio to the baseline's.
 *
 * Options (environment): BENCH_BUYERS (20000), BENCH_STOCK (1000), BENCH_SHARDS (1),
 * BENCH_ROUNDS (3), BENCH_CONNECTIONS (100), BENCH_PORT (18080), BENCH_BASELINE_SECONDS (5),
 * BENCH_WRITE (1: write bench/RESULTS.md), BENCH_PROFILE (1: the service writes a CPU profile
 * to bench/.runs/ on exit).
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import { createDb, dropDatabase, withDatabase } from '../src/db/knex'
import { createKeySpace } from '../src/redis/keys'
import { createTokenSigner } from '../src/http/auth'
import { auditSale } from '../src/audit/sale-audit'
import { eventDecided } from '../src/domain/sale-state'
import type { SaleAudit } from '../src/audit/sale-audit'
import { queuedTicketId, rejectedTicketId, shardOf } from '../src/domain/tickets'
import { repoPath } from '../src/util/paths'
import { startBaseline, startService } from './processes'
import type { Child } from './processes'

const num = (name: string, fallback: number): number => {
  const v = process.env[name]
  return v === undefined || v === '' ? fallback : Number(v)
}

const settings = {
  buyers: num('BENCH_BUYERS', 20_000),
  stock: num('BENCH_STOCK', 1000),
  shards: num('BENCH_SHARDS', 1),
  rounds: num('BENCH_ROUNDS', 3),
  connections: num('BENCH_CONNECTIONS', 100),
  port: num('BENCH_PORT', 18080),
  baselineSeconds: num('BENCH_BASELINE_SECONDS', 5),
  write: process.env.BENCH_WRITE !== '0',
  profile: process.env.BENCH_PROFILE === '1'
}

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const DATABASE_URL = withDatabase(process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/seckill', 'seckill_bench')
const SECRET = randomBytes(24).toString('hex')
const PREFIX = `bench${randomBytes(3).toString('hex')}`

interface Round {
  readonly reqPerSec: number
  readonly p50: number
  readonly p99: number
  readonly non2xx: number
  readonly errors: number
  readonly crowdMs: number
  /** From the crowd's first request until every ticket is final. */
  readonly allFinalMs: number
  /** From the crowd's end until every ticket is final. */
  readonly finalAfterCrowdMs: number
  /** From the first to the last order committed. */
  readonly ordersSpanMs: number
  readonly ordersPerSec: number
  readonly audit: SaleAudit
  readonly i7: { readonly checked: number, readonly same: number }
  readonly serviceRss: number
}

async function measureBaseline (url: string): Promise<{ reqPerSec: number, p50: number, p99: number }> {
  const r = await autocannon({ url: `${url}/baseline`, connections: settings.connections, duration: settings.baselineSeconds })
  return { reqPerSec: r.requests.total / r.duration, p50: r.latency.p50, p99: r.latency.p99 }
}

async function api (base: string, method: string, path: string, token: string, body?: unknown): Promise<any> {
  const res = await fetch(base + path, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const json = await res.json()
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`)
  return json
}

async function runRound (service: Child, round: number, redis: Redis, db: ReturnType<typeof createDb>): Promise<Round> {
  const sign = createTokenSigner(SECRET)
  const admin = sign({ id: '1', role: 'admin' })
  const product = await api(service.url, 'POST', '/api/v1/admin/products', admin, { title: 'Bench sneaker', price_cents: 19900 })
  const start = Date.now() - 1000
  const created = await api(service.url, 'POST', '/api/v1/admin/events', admin, {
    product_id: product.data.id,
    title: `Bench round ${round}`,
    price_cents: 9900,
    stock: settings.stock,
    shards: settings.shards,
    start_at: new Date(start).toISOString(),
    end_at: new Date(start + 3_600_000).toISOString()
  })
  const eventId = created.data.id as number
  const firstUser = 1_000_000 * (round + 1)
  const tokens = Array.from({ length: settings.buyers }, (_, i) => sign({ id: String(firstUser + i), role: 'user' }))
  let next = 0
  let lastAnswer = 0
  let peakRss = service.rss()
  const rssTimer = setInterval(() => { peakRss = Math.max(peakRss, service.rss()) }, 100)

  const keys = createKeySpace(PREFIX)
  const watch = watchIdle(redis, keys, eventId)
  const crowdStart = Date.now()
  const result = await autocannon({
    url: service.url,
    connections: settings.connections,
    amount: settings.buyers,
    requests: [{
      method: 'POST',
      path: `/api/v1/events/${eventId}/buy`,
      setupRequest: (req) => ({ ...req, headers: { ...req.headers, authorization: `Bearer ${tokens[next++ % tokens.length] ?? ''}` } }),
      // autocannon ends an `amount` run on its one-second tick; the crowd really ends at its last answer.
      onResponse: () => { lastAnswer = Date.now() }
    }]
  })
  const crowdEnd = lastAnswer

  const deadline = Date.now() + 120_000
  // Idle on a look taken after the last answer (the watcher looks every 5 ms).
  await sleep(10)
  while (watch.idleSince === 0) {
    if (Date.now() > deadline) throw new Error('tickets were still queued two minutes after the crowd')
    await sleep(5)
  }
  watch.stop()
  const finalAt = Math.max(watch.idleSince, crowdEnd)
  clearInterval(rssTimer)

  const span = await db('orders').where({ event_id: eventId }).first(db.raw('MIN(created_at) AS first'), db.raw('MAX(created_at) AS last'), db.raw('COUNT(*) AS n')) as { first: Date, last: Date, n: number }
  const ordersSpanMs = Math.max(1, new Date(span.last).getTime() - new Date(span.first).getTime())
  const audit = await auditSale(db, redis, keys, eventId)
  const i7 = await checkResubmits(service.url, redis, keys, eventId, tokens, firstUser)
  return {
    // Total over the measured duration: autocannon's per-second average is coarse for short runs.
    reqPerSec: result.requests.total / ((crowdEnd - crowdStart) / 1000),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    crowdMs: crowdEnd - crowdStart,
    allFinalMs: finalAt - crowdStart,
    finalAfterCrowdMs: Math.max(0, finalAt - crowdEnd),
    ordersSpanMs,
    ordersPerSec: Number(span.n) / (ordersSpanMs / 1000),
    audit,
    i7,
    serviceRss: peakRss
  }
}

/** Notes, every 5 ms, since when every admitted ticket of the event has been decided. */
function watchIdle (redis: Redis, keys: ReturnType<typeof createKeySpace>, eventId: number): { idleSince: number, stop: () => void } {
  const state = { idleSince: 0, running: true, stop: () => { state.running = false } }
  void (async () => {
    while (state.running) {
      const now = Date.now()
      if (await eventDecided({ redis, keys }, { id: eventId, shards: settings.shards })) {
        if (state.idleSince === 0) state.idleSince = now
      } else {
        state.idleSince = 0
      }
      await sleep(5)
    }
  })()
  return state
}

/** I7: a sample of buyers asks again; each must get exactly the ticket Redis says they hold. */
async function checkResubmits (base: string, redis: Redis, keys: ReturnType<typeof createKeySpace>, eventId: number, tokens: string[], firstUser: number): Promise<{ checked: number, same: number }> {
  const sample = Array.from({ length: Math.min(1000, tokens.length) }, (_, i) => Math.floor((i * tokens.length) / Math.min(1000, tokens.length)))
  let same = 0
  await Promise.all(sample.map(async (i) => {
    const user = String(firstUser + i)
    const shard = shardOf(user, settings.shards)
    const qpos = await redis.hget(keys.shard({ eventId, shard }).holders, user)
    const expected = qpos === null ? rejectedTicketId(eventId, shard, user) : queuedTicketId(eventId, shard, Number(qpos))
    const got = await api(base, 'POST', `/api/v1/events/${eventId}/buy`, tokens[i] as string)
    if (got.data.ticket_id === expected) same++
  }))
  return { checked: sample.length, same }
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid] as number : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

function stat (xs: number[], digits = 0): string {
  const f = (x: number): string => x.toFixed(digits)
  return xs.length === 1 ? f(xs[0] as number) : `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`
}

function report (baseline: Array<{ reqPerSec: number, p99: number }>, rounds: Round[]): string {
  const base = median(baseline.map((b) => b.reqPerSec))
  const ratio = rounds.map((r) => (100 * r.reqPerSec) / base)
  const checks = ['I1', 'I2', 'I3', 'I4', 'I5', 'I6'].map((id) => {
    const okAll = rounds.every((r) => r.audit.checks.find((c) => c.id === id)?.ok === true)
    return `| ${id} | ${okAll ? 'holds' : '**VIOLATED**'} | ${rounds.map((r) => r.audit.checks.find((c) => c.id === id)?.detail ?? '').at(-1) ?? ''} |`
  })
  const i7ok = rounds.every((r) => r.i7.same === r.i7.checked)
  const rows = [
    ['baseline: plain Fastify route, req/s', stat(baseline.map((b) => b.reqPerSec))],
    ['crowd: buy requests, req/s', stat(rounds.map((r) => r.reqPerSec))],
    ['crowd: req/s as % of baseline', stat(ratio, 1) + ' %'],
    ['crowd: latency p50, ms', stat(rounds.map((r) => r.p50), 1)],
    ['crowd: latency p99, ms', stat(rounds.map((r) => r.p99), 1)],
    ['crowd: duration, ms', stat(rounds.map((r) => r.crowdMs))],
    ['crowd: non-2xx answers / errors', `${rounds.map((r) => r.non2xx).join(', ')} / ${rounds.map((r) => r.errors).join(', ')}`],
    ['every ticket final, ms after first request', stat(rounds.map((r) => r.allFinalMs))],
    ['every ticket final, ms after last request', stat(rounds.map((r) => r.finalAfterCrowdMs))],
    ['orders: first to last commit, ms', stat(rounds.map((r) => r.ordersSpanMs))],
    ['orders committed per second', stat(rounds.map((r) => r.ordersPerSec))],
    ['service peak RSS, MiB', stat(rounds.map((r) => r.serviceRss / 1048576))]
  ]
  return [
    `Flash crowd: ${settings.buyers.toLocaleString('en')} distinct buyers against ${settings.stock.toLocaleString('en')} units, ${settings.shards} shard(s), ` +
      `${settings.connections} connections, ${rounds.length} round(s); median (min–max).`,
    '',
    '| figure | value |',
    '|---|---|',
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    '',
    '| invariant | result | detail (last round) |',
    '|---|---|---|',
    ...checks,
    `| I7 | ${i7ok ? 'holds' : '**VIOLATED**'} | ${rounds.map((r) => `${r.i7.same}/${r.i7.checked}`).join(', ')} resubmits returned the same ticket |`,
    '',
    `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}; load generator, service and baseline on the same machine.`
  ].join('\n')
}

const START = '<!-- bench:start -->'
const END = '<!-- bench:end -->'

/** Replaces the generated section of bench/RESULTS.md; the analysis around it is kept. */
function writeResults (text: string): void {
  const file = repoPath('bench', 'RESULTS.md')
  let doc = existsSync(file) ? readFileSync(file, 'utf8') : `# Benchmark results\n\n${START}\n${END}\n`
  if (!doc.includes(START) || !doc.includes(END)) doc += `\n${START}\n${END}\n`
  const section = `${START}\nLatest \`npm run bench\` (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC):\n\n${text}\n${END}`
  writeFileSync(file, doc.slice(0, doc.indexOf(START)) + section + doc.slice(doc.indexOf(END) + END.length))
}

async function main (): Promise<void> {
  await dropDatabase(DATABASE_URL)
  const baselineChild = await startBaseline(settings.port + 1)
  const service = await startService(settings.port, {
    NODE_ENV: 'production',
    PROCESS_ROLE: 'all',
    LOG_LEVEL: 'warn',
    REDIS_URL,
    REDIS_PREFIX: PREFIX,
    DATABASE_URL,
    JWT_SECRET: SECRET,
    RATE_LIMIT_BUY: '1000000',
    RATE_LIMIT_POLL: '1000000'
  }, settings.profile ? repoPath('bench', '.runs') : undefined)
  const redis = new Redis(REDIS_URL)
  const db = createDb(DATABASE_URL, { poolMax: 2 })
  const baseline: Array<{ reqPerSec: number, p50: number, p99: number }> = []
  const rounds: Round[] = []
  try {
    for (let round = 0; round < settings.rounds; round++) {
      baseline.push(await measureBaseline(baselineChild.url))
      const r = await runRound(service, round, redis, db)
      rounds.push(r)
      process.stdout.write(`round ${round + 1}: ${r.reqPerSec.toFixed(0)} req/s, p99 ${r.p99} ms, all final ${r.allFinalMs} ms, audit ${r.audit.ok ? 'ok' : 'FAILED'}, I7 ${r.i7.same}/${r.i7.checked}\n`)
    }
  } finally {
    await service.stop()
    await baselineChild.stop()
    let cursor = '0'
    do {
      const [nextCursor, found] = await redis.scan(cursor, 'MATCH', `${PREFIX}:*`, 'COUNT', 1000)
      if (found.length > 0) await redis.unlink(...found)
      cursor = nextCursor
    } while (cursor !== '0')
    redis.disconnect()
    await db.destroy()
  }
  const text = report(baseline, rounds)
  process.stdout.write(`\n${text}\n`)
  if (settings.write) writeResults(text)
  const failed = rounds.some((r) => !r.audit.ok || r.i7.same !== r.i7.checked)
  process.exit(failed ? 1 : 0)
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
