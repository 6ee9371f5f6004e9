/**
 * `npm run bench:many`: many drops at once. For each count of concurrent sales (BENCH_SALES,
 * default 1,10,50,200), a fresh private redis-server, the ingress and the worker as separate
 * processes with the production settings, and that many sales of BENCH_MANY_STOCK (50) units in
 * BENCH_MANY_SHARDS (2) shards, all starting at one instant. BENCH_MANY_BUYERS (20) distinct
 * buyers per unit arrive at the same total rate whatever the number of sales (BENCH_MANY_RATE,
 * 1,000 buys/s, spread over the sales in turn). Reported per case:
 *
 * - admitted buys p99 (the buys answered 202, as the buyer saw them);
 * - the most tickets waiting to be decided at once (sum over the shards of admitted − drained,
 *   sampled every 100 ms with one MGET);
 * - the ticket decision p99, from admission to decision (the worker's seckill_ticket_seconds
 *   histogram: the bound of the bucket holding the 99th percentile);
 * - the worker's Redis connections (its established TCP connections to the Redis port, from ss);
 * - Redis commands per second per live shard while idle after the sales (INFO commandstats over
 *   BENCH_MANY_IDLE_SECONDS, 10, from 12 s after every sale is decided; every process's commands
 *   counted, those run inside scripts too); and apart from it, what a live shard adds: the same count
 *   minus the processes' own idle commands, measured for as long before any sale existed;
 * - the CPU each process spent in the crowd's first seconds (/proc);
 * - every sale audited (I1–I7).
 *
 * Each count runs BENCH_MANY_ROUNDS (3) times, each round on fresh processes and a fresh Redis; the
 * table gives every figure's median with its range, and the verdict on issue 19's targets is taken
 * on the medians (one round on this shared machine moved a figure by up to 2.5×).
 *
 * Prints one JSON line per case (with the worker's mean milliseconds per batch by stage and the
 * tickets waiting once a second) and a Markdown table at the end, which it also writes into
 * bench/RESULTS.md between its markers (BENCH_WRITE=0: not). `npm run bench` runs it after the
 * flash-crowd benchmark. BENCH_WORKER_ENV: settings for the worker (results-file.ts). BENCH_PROFILE=1: the processes
 * write CPU profiles to bench/.runs/many-<sales>/ on exit.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'
import { Redis } from 'ioredis'
import { createDb, dropDatabase, withDatabase } from '../src/db/knex'
import { createKeySpace } from '../src/redis/keys'
import type { KeySpace } from '../src/redis/keys'
import { createTokenSigner } from '../src/http/auth'
import { auditSale } from '../src/sale'
import { eventDecided } from '../src/stock'
import { startPrivateRedis } from '../test/helpers/redis-server'
import { startService } from './processes'
import { repoPath } from '../src/util/paths'
import { api as apiClient, perBatch, stageTotals } from './scenarios'
import type { Api } from './scenarios'
import { envNumber, median, workerEnv } from './results-file'
import { cpuMs, cpuSpent, findPid } from './cpu-time'
import { BENCH_PAYMENT_SETTINGS } from './payment-settings'

const settings = {
  sales: (process.env.BENCH_SALES ?? '1,10,50,200').split(',').map(Number),
  stock: envNumber('BENCH_MANY_STOCK', 50),
  shards: envNumber('BENCH_MANY_SHARDS', 2),
  buyersPerUnit: envNumber('BENCH_MANY_BUYERS', 20),
  rate: envNumber('BENCH_MANY_RATE', 1000),
  idleSeconds: envNumber('BENCH_MANY_IDLE_SECONDS', 10),
  rounds: Math.max(1, envNumber('BENCH_MANY_ROUNDS', 3)),
  port: envNumber('BENCH_PORT', 18280)
}

const DATABASE_URL = withDatabase(process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/seckill', 'seckill_bench_many')
const SECRET = randomBytes(24).toString('hex')
const PREFIX = 'benchmany'

export interface ManyDropsCase {
  readonly sales: number
  readonly shards: number
  /** Live while idle: the measured sales' shards and the warm-up sale's. */
  readonly liveShards: number
  readonly buys: number
  readonly admitted: number
  readonly buysPerSec: number
  readonly admittedP99Ms: number
  readonly mostWaiting: number
  /** Upper bound of the histogram bucket holding the 99th percentile, in seconds. */
  readonly decisionP99Seconds: number
  /** The admission script's round trip as the ingress saw it (seckill_admit_seconds), bucket bound of its p99. */
  readonly admitScriptP99Seconds: number
  readonly workerRedisConnections: number
  readonly idleCommandsPerShard: number
  /** The processes' own idle commands per second before any sale existed (heartbeat, discovery, the deadline queue's worker). */
  readonly fixedCommandsPerSecond: number
  /** (idle commands/s after the sales − the fixed ones) per live shard: what a live shard adds. */
  readonly shardCommandsPerSecond: number
  readonly idleCommands: Record<string, number>
  readonly drainedInMs: number
  readonly auditsOk: number
  /** The worker's mean milliseconds per batch by stage, and the number of batches. */
  readonly msPerBatch: Record<string, number>
  /** Redis commands per admitted buy from the crowd's start until every ticket was decided (sampling included). */
  readonly commandsPerAdmitted: Record<string, number>
  /** Tickets waiting, once a second from the start (the first 30 s). */
  readonly waitingEverySecond: readonly number[]
  /** The crowd's first 3 s, every 100 ms sample: where the most waiting falls. */
  readonly waitingFirstSeconds: readonly number[]
  /**
   * CPU milliseconds each process spent in the crowd's first BURST_SECONDS (the admissions and
   * their drain: where the line grows), from /proc; the whole crowd when it is shorter.
   */
  readonly burstCpuMs: Record<string, number>
}

/** The first seconds of the crowd, where every sale still admits. */
const BURST_SECONDS = 3

async function main (): Promise<void> {
  const cases: Array<readonly ManyDropsCase[]> = []
  for (const sales of settings.sales) {
    const rounds: ManyDropsCase[] = []
    for (let r = 0; r < settings.rounds; r++) {
      const c = await runCase(sales)
      rounds.push(c)
      process.stdout.write(`${JSON.stringify({ round: r + 1, ...c })}\n`)
    }
    cases.push(rounds)
  }
  const rounds = settings.rounds === 1 ? 'one round' : `median of ${settings.rounds} rounds (range in brackets)`
  const text = `${new Date().toISOString().slice(0, 10)}, ingress and worker as separate processes, production settings, ${rounds}.\n\n${table(cases)}\n\n${verdicts(cases)}`
  process.stdout.write(`\n${text}\n`)
  if (process.env.BENCH_WRITE !== '0') {
    const file = repoPath('bench', 'RESULTS.md')
    const START = '<!-- many:start -->'
    const END = '<!-- many:end -->'
    let doc = readFileSync(file, 'utf8')
    if (!doc.includes(START)) doc += `\n## Many drops at once (\`npm run bench:many\`)\n\n${START}\n${END}\n`
    writeFileSync(file, doc.slice(0, doc.indexOf(START)) + `${START}\n${text}\n${END}` + doc.slice(doc.indexOf(END) + END.length))
  }
}

async function runCase (sales: number): Promise<ManyDropsCase> {
  await dropDatabase(DATABASE_URL)
  const privateRedis = await startPrivateRedis()
  const redisPort = new URL(privateRedis.url).port
  const env = {
    NODE_ENV: 'production', ...BENCH_PAYMENT_SETTINGS, LOG_LEVEL: 'warn', REDIS_URL: privateRedis.url, REDIS_PREFIX: PREFIX, DATABASE_URL, JWT_SECRET: SECRET,
    RATE_LIMIT_BUY: '1000000', RATE_LIMIT_POLL: '1000000', SHUTDOWN_DRAIN_MS: '0'
  }
  const port = settings.port
  const profileDir = process.env.BENCH_PROFILE === '1' ? repoPath('bench', '.runs', `many-${sales}`) : undefined
  const ingress = await startService(port, { ...env, PROCESS_ROLE: 'ingress', METRICS_PORT: String(port + 1) }, profileDir)
  const worker = await startService(port + 2, { ...env, ...workerEnv(), PROCESS_ROLE: 'worker', METRICS_PORT: String(port + 3) }, profileDir, '/metrics', port + 3)
  const fixedCommandsPerSecond = await idleRate(privateRedis.url)
  const redis = new Redis(privateRedis.url)
  const db = createDb(DATABASE_URL, { poolMax: 2 })
  const keys = createKeySpace(PREFIX)
  const sign = createTokenSigner(SECRET)
  const a = apiClient(ingress.url)
  const admin = sign({ id: '1', role: 'admin' })
  try {
    // Warm-up, not measured: one sale of 2,000 units bought by 3,000 buyers at the same rate, so
    // the measured drop meets processes whose hot paths are compiled (as a service running for a
    // while would be), not the interpreter.
    const [warmup] = await createSales(a, admin, 1, Date.now() - 1000, 2000)
    await crowd(ingress.url, [warmup as number], sign, 3000, 90_000_000)
    await waitDecided(redis, keys, [warmup as number], 60_000)

    const startAt = Date.now() + 8000 + sales * 60
    const eventIds = await createSales(a, admin, sales, startAt)
    await waitOwned(redis, keys, eventIds, startAt + 30_000)
    await sleep(Math.max(0, startAt - Date.now()))

    const beforeHistogram = await ticketHistogram(port + 3)
    const beforeAdmit = await ticketHistogram(port + 1, 'seckill_admit_seconds')
    const beforeStages = await stageTotals(port + 3)
    const timeline: number[] = []
    let mostWaiting = 0
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        const w = await waiting(redis, keys, eventIds)
        timeline.push(w)
        mostWaiting = Math.max(mostWaiting, w)
        await sleep(100)
      }
    })()
    const crowdBefore = await commandCounts(redis)
    const pids = { ingress: ingress.process.pid, worker: worker.process.pid, redis: findPid(new RegExp(`redis-server .*:${redisPort}`)), mariadb: findPid(/mariadbd|mysqld/), bench: process.pid }
    let burstCpuMs: Record<string, number> | undefined
    let cpuAtStart: Record<string, number> = {}
    let burst: NodeJS.Timeout | undefined
    const load = await crowd(ingress.url, eventIds, sign, settings.stock * settings.buyersPerUnit * eventIds.length, 10_000_000, () => {
      cpuAtStart = cpuMs(pids)
      burst = setTimeout(() => { burstCpuMs = cpuSpent(cpuAtStart, cpuMs(pids)) }, BURST_SECONDS * 1000)
    })
    clearTimeout(burst)
    // A crowd shorter than the burst: its whole length.
    burstCpuMs ??= cpuSpent(cpuAtStart, cpuMs(pids))
    const drainStarted = Date.now()
    await waitDecided(redis, keys, eventIds, 300_000)
    const drainedInMs = Date.now() - drainStarted
    const crowdAfter = await commandCounts(redis)
    const admitted = Math.max(1, load.admittedLatencies.length)
    const commandsPerAdmitted: Record<string, number> = {}
    for (const [cmd, n] of crowdAfter) {
      const d = n - (crowdBefore.get(cmd) ?? 0)
      if (d / admitted >= 0.05) commandsPerAdmitted[cmd] = Math.round(d / admitted * 100) / 100
    }
    sampling = false
    await sampler
    const decisionP99Seconds = p99Bound(beforeHistogram, await ticketHistogram(port + 3))
    const admitScriptP99Seconds = p99Bound(beforeAdmit, await ticketHistogram(port + 1, 'seckill_admit_seconds'))
    const msPerBatch = perBatch(beforeStages, await stageTotals(port + 3))

    let auditsOk = 0
    for (const id of eventIds) {
      const audit = await auditSale(db, redis, keys, id)
      if (!audit.ok) throw new Error(`sale ${id}: audit failed: ${JSON.stringify(audit.checks.filter((c) => !c.ok))}`)
      auditsOk++
    }

    // Idle: every sale sold out and decided, the shards still owned (until end_at plus the grace).
    // A sold-out shard turns quiet after two LEASE_MS (5 s) idle; measured once it had the time.
    await sleep(12_000)
    const workerRedisConnections = connectionsOf(worker.process.pid, redisPort)
    const before = await commandCounts(redis)
    await sleep(settings.idleSeconds * 1000)
    const after = await commandCounts(redis)
    const idleCommands: Record<string, number> = {}
    let total = 0
    for (const [cmd, n] of after) {
      // This process's own two INFO calls are not the service's.
      const d = (n - (before.get(cmd) ?? 0)) - (cmd === 'info' ? 1 : 0)
      if (d <= 0) continue
      // Every live shard: the measured sales' and the warm-up sale's.
      const perShard = d / settings.idleSeconds / ((sales + 1) * settings.shards)
      idleCommands[cmd] = Math.round(perShard * 100) / 100
      total += perShard
    }
    return {
      sales,
      shards: sales * settings.shards,
      liveShards: (sales + 1) * settings.shards,
      buys: load.sent,
      admitted: load.admittedLatencies.length,
      buysPerSec: Math.round(load.sent / (load.ms / 1000)),
      admittedP99Ms: Math.round(quantile(load.admittedLatencies, 0.99) * 10) / 10,
      mostWaiting,
      decisionP99Seconds,
      admitScriptP99Seconds,
      workerRedisConnections,
      idleCommandsPerShard: Math.round(total * 100) / 100,
      fixedCommandsPerSecond: Math.round(fixedCommandsPerSecond * 100) / 100,
      shardCommandsPerSecond: Math.round((total * (sales + 1) * settings.shards - fixedCommandsPerSecond) / ((sales + 1) * settings.shards) * 100) / 100,
      idleCommands,
      drainedInMs,
      auditsOk,
      msPerBatch,
      commandsPerAdmitted,
      burstCpuMs,
      waitingEverySecond: timeline.filter((_, i) => i % 10 === 0).slice(0, 30),
      waitingFirstSeconds: timeline.slice(0, 30)
    }
  } finally {
    await ingress.stop()
    await worker.stop()
    redis.disconnect()
    await db.destroy()
    await privateRedis.stop()
  }
}

async function createSales (a: Api, admin: string, count: number, startAt: number, stock = settings.stock): Promise<number[]> {
  const product = await a.call('POST', '/api/v1/admin/products', admin, { title: 'Noon drop', price_cents: 19900 })
  const ids: number[] = []
  for (let i = 0; i < count; i++) {
    const created = await a.call('POST', '/api/v1/admin/events', admin, {
      product_id: product.data.id, title: `Drop ${i + 1}`, price_cents: 9900, stock, shards: settings.shards,
      start_at: new Date(startAt).toISOString(), end_at: new Date(startAt + 3_600_000).toISOString()
    })
    ids.push(created.data.id as number)
  }
  return ids
}

/** Waits until the worker holds a lease on every shard of every sale. */
async function waitOwned (redis: Redis, keys: KeySpace, eventIds: readonly number[], deadline: number): Promise<void> {
  const leases = eventIds.flatMap((eventId) => Array.from({ length: settings.shards }, (_, shard) => keys.shard({ eventId, shard }).lease))
  for (;;) {
    const held = (await redis.mget(...leases)).filter((v) => v !== null).length
    if (held === leases.length) return
    if (Date.now() > deadline) throw new Error(`only ${held} of ${leases.length} shards owned`)
    await sleep(200)
  }
}

/** Tickets admitted and not yet drained, over every shard (one MGET: this bench runs on one server). */
async function waiting (redis: Redis, keys: KeySpace, eventIds: readonly number[]): Promise<number> {
  const shardKeys = eventIds.flatMap((eventId) => Array.from({ length: settings.shards }, (_, shard) => keys.shard({ eventId, shard })))
  const values = await redis.mget(...shardKeys.flatMap((k) => [k.qseq, k.drained]))
  let sum = 0
  for (let i = 0; i < values.length; i += 2) sum += Math.max(0, Number(values[i] ?? 0) - Number(values[i + 1] ?? 0))
  return sum
}

/** Waits until every ticket of the sales is decided. */
async function waitDecided (redis: Redis, keys: KeySpace, eventIds: readonly number[], ms: number): Promise<void> {
  const started = Date.now()
  for (const id of eventIds) {
    while (!await eventDecided({ redis, keys }, { id, shards: settings.shards })) {
      if (Date.now() - started > ms) throw new Error(`sale ${id}: tickets still undecided after ${ms} ms`)
      await sleep(20)
    }
  }
}

/** `total` distinct buyers (from `firstUser`), spread over the sales in turn, at BENCH_MANY_RATE buys per second in all. */
async function crowd (base: string, eventIds: readonly number[], sign: (claims: { id: string, role: 'user' | 'admin' }) => string, total: number, firstUser: number,
  onStart: () => void = () => undefined): Promise<{ sent: number, ms: number, admittedLatencies: number[] }> {
  const pool = new Pool(base, { connections: 200, pipelining: 1 })
  const admittedLatencies: number[] = []
  // Signed before the crowd: on two cores the load generator's own signing took CPU from the
  // service under test.
  const tokens = Array.from({ length: total }, (_, i) => sign({ id: String(firstUser + i), role: 'user' }))
  const inFlight = new Set<Promise<void>>()
  onStart()
  const started = Date.now()
  const tick = 10
  let sent = 0
  try {
    while (sent < total) {
      const due = Math.min(total, Math.floor((Date.now() - started) * settings.rate / 1000) + 1)
      for (; sent < due; sent++) {
        const i = sent
        const eventId = eventIds[i % eventIds.length] as number
        const t0 = performance.now()
        const p = pool.request({ path: `/api/v1/events/${eventId}/buy`, method: 'POST', headers: { authorization: `Bearer ${tokens[i] as string}` } })
          .then(async (res) => {
            await res.body.dump()
            if (res.statusCode === 202) admittedLatencies.push(performance.now() - t0)
            else if (res.statusCode !== 200) throw new Error(`buy answered ${res.statusCode}`)
          })
          .finally(() => inFlight.delete(p))
        inFlight.add(p)
      }
      await sleep(tick)
    }
    await Promise.all(inFlight)
  } finally {
    await pool.close()
  }
  return { sent, ms: Date.now() - started, admittedLatencies }
}

async function ticketHistogram (metricsPort: number, name = 'seckill_ticket_seconds'): Promise<Map<number, number>> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()
  const buckets = new Map<number, number>()
  for (const m of text.matchAll(new RegExp(`^${name}_bucket\\{(?:[^}]*,)?le="([^"]+)"[^}]*\\} (\\d+)$`, 'gm'))) buckets.set(m[1] === '+Inf' ? Infinity : Number(m[1]), Number(m[2]))
  return buckets
}

function p99Bound (before: Map<number, number>, after: Map<number, number>): number {
  const les = [...after.keys()].sort((x, y) => x - y)
  const total = (after.get(Infinity) ?? 0) - (before.get(Infinity) ?? 0)
  for (const le of les) {
    if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= total * 0.99) return le
  }
  return Infinity
}

/** Established TCP connections of a process to the Redis port. */
function connectionsOf (pid: number | undefined, redisPort: string): number {
  if (pid === undefined) return 0
  const out = execFileSync('ss', ['-Htnp', 'state', 'established', `( dport = :${redisPort} )`], { encoding: 'utf8' })
  return out.split('\n').filter((line) => line.includes(`pid=${pid},`)).length
}

/** Redis commands per second over BENCH_MANY_IDLE_SECONDS, every client's (a connection of its own for the two INFO calls). */
async function idleRate (url: string): Promise<number> {
  const redis = new Redis(url)
  try {
    await sleep(2000)
    const before = await commandCounts(redis)
    await sleep(settings.idleSeconds * 1000)
    const after = await commandCounts(redis)
    let total = 0
    for (const [cmd, n] of after) total += Math.max(0, (n - (before.get(cmd) ?? 0)) - (cmd === 'info' ? 1 : 0))
    return total / settings.idleSeconds
  } finally {
    redis.disconnect()
  }
}

async function commandCounts (redis: Redis): Promise<Map<string, number>> {
  const stats = await redis.info('commandstats')
  const counts = new Map<string, number>()
  for (const m of stats.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) counts.set(m[1] ?? '', Number(m[2]))
  return counts
}

function quantile (values: number[], q: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((x, y) => x - y)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0
}

type Figure = (c: ManyDropsCase) => number

/** A figure's median over the rounds, with its range when there are several. */
function cell (rounds: readonly ManyDropsCase[], f: Figure, unit = '', prefix = ''): string {
  const values = rounds.map(f)
  const m = Math.round(median(values) * 100) / 100
  const lo = Math.min(...values)
  const hi = Math.max(...values)
  return `${prefix}${m}${unit}${rounds.length > 1 ? ` (${lo === hi ? 'all' : `${lo}–${hi}`})` : ''}`
}

export function table (cases: ReadonlyArray<readonly ManyDropsCase[]>): string {
  const row = (label: string, f: (rounds: readonly ManyDropsCase[]) => string): string => `| ${label} | ${cases.map(f).join(' | ')} |`
  const first = (rounds: readonly ManyDropsCase[]): ManyDropsCase => rounds[0] as ManyDropsCase
  return [
    `| concurrent sales (${settings.shards} shards, ${settings.stock} units each, ${settings.buyersPerUnit} buyers per unit, ${settings.rate} buys/s) | ${cases.map((r) => String(first(r).sales)).join(' | ')} |`,
    `|---|${cases.map(() => '---').join('|')}|`,
    row('buys sent / admitted', (r) => `${first(r).buys} / ${cell(r, (c) => c.admitted)}`),
    row('buys/s reached', (r) => cell(r, (c) => c.buysPerSec)),
    row('admitted buys p99', (r) => cell(r, (c) => c.admittedP99Ms, ' ms')),
    row('admission script round trip p99 (ingress)', (r) => cell(r, (c) => c.admitScriptP99Seconds * 1000, ' ms', '≤ ')),
    row('most tickets waiting to be decided', (r) => cell(r, (c) => c.mostWaiting)),
    row('ticket decision p99', (r) => cell(r, (c) => c.decisionP99Seconds, ' s', '≤ ')),
    row('all decided after the crowd', (r) => cell(r, (c) => c.drainedInMs, ' ms')),
    row(`CPU in the crowd's first ${BURST_SECONDS} s, ms: ingress / worker / Redis / MariaDB / load generator`, (r) =>
      ['ingress', 'worker', 'redis', 'mariadb', 'bench'].map((p) => String(median(r.map((c) => c.burstCpuMs[p] ?? 0)))).join(' / ')),
    row('worker Redis connections', (r) => cell(r, (c) => c.workerRedisConnections)),
    row('Redis commands/s per live shard while idle, all counted (the warm-up sale\'s shards counted)', (r) => `${cell(r, (c) => c.idleCommandsPerShard)} (${first(r).liveShards} shards)`),
    row('the processes\' own idle commands/s, before any sale', (r) => cell(r, (c) => c.fixedCommandsPerSecond)),
    row('Redis commands/s a live shard adds while idle', (r) => cell(r, (c) => c.shardCommandsPerSecond)),
    row('sales audited exact', (r) => `${r.reduce((n, c) => n + c.auditsOk, 0)} of ${r.reduce((n, c) => n + c.sales, 0)}`)
  ].join('\n')
}

/** Issue 19's targets, judged on the medians of the counts that ran. */
export function verdicts (cases: ReadonlyArray<readonly ManyDropsCase[]>): string {
  const at = (sales: number): readonly ManyDropsCase[] | undefined => cases.find((r) => r[0]?.sales === sales)
  const lines: string[] = []
  const judge = (what: string, value: number, ok: boolean, unit: string): void => { lines.push(`- ${what}: ${Math.round(value * 100) / 100}${unit} — ${ok ? 'met' : 'not met'}`) }
  const fifty = at(50)
  if (fifty !== undefined) {
    judge('50 sales, most tickets waiting ≤ 200 (median)', median(fifty.map((c) => c.mostWaiting)), median(fifty.map((c) => c.mostWaiting)) <= 200, '')
    judge('50 sales, admitted buys p99 ≤ 250 ms (median)', median(fifty.map((c) => c.admittedP99Ms)), median(fifty.map((c) => c.admittedP99Ms)) <= 250, ' ms')
  }
  const twoHundred = at(200)
  if (twoHundred !== undefined) judge('200 sales, ticket decision p99 ≤ 1 s (median)', median(twoHundred.map((c) => c.decisionP99Seconds)), median(twoHundred.map((c) => c.decisionP99Seconds)) <= 1, ' s')
  const idle = Math.max(...cases.map((r) => median(r.map((c) => c.shardCommandsPerSecond))))
  judge('idle Redis commands a live shard adds ≤ 2/s (the highest median)', idle, idle <= 2, '/s')
  const conns = cases.map((r) => median(r.map((c) => c.workerRedisConnections)))
  lines.push(`- worker Redis connections by count of sales: ${conns.join(', ')} — ${Math.max(...conns) === Math.min(...conns) ? 'constant' : 'they vary'}`)
  const audited = cases.every((r) => r.every((c) => c.auditsOk === c.sales))
  lines.push(`- every sale audited exact in every round: ${audited ? 'yes' : 'no'}`)
  return lines.join('\n')
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:many failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
