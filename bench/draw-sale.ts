/**
 * `npm run bench:draw`: a draw of BENCH_ENTRIES (1,000,000) entries for BENCH_UNITS
 * (1,000) units through the real service: an ingress and a worker process, the real Redis and
 * MariaDB. Times, from the close on MySQL's clock, when the worker had placed the entrants in drawn
 * order, when every winner's ticket was decided (won, with an order in MySQL), and when every
 * entrant's was; then checks the published draw (GET /api/v1/events/:id/draw) with the README's
 * own draw-check script and audits the sale.
 *
 * The entries are made by the admission script itself (lua/admitRandomStart through
 * src/redis/commands.ts, as the ingress calls it for a buy in the window), from this process, many
 * calls in flight: a million HTTP buys would take this machine minutes and measure the ingress,
 * which the flash-crowd bench does. The first entry goes through HTTP (it warms the shard). Once
 * every entry is in, the close (`start_at`) is moved to BENCH_CLOSE_IN_MS (15 s) from MySQL's
 * now with one UPDATE, so the bench does not wait out the window; the worker asks MySQL again at
 * least every DRAIN_IDLE_WAIT_MS. BENCH_WORKER_ENV: settings for the worker (results-file.ts). Prints
 * one JSON line; writes nothing to bench/RESULTS.md.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { createTokenSigner } from '../src/http/auth'
import { createDb, withDatabase } from '../src/db/knex'
import { createKeySpace } from '../src/redis/keys'
import { createRedis, deleteKeysWithPrefix } from '../src/redis/client'
import { admitRandomStart } from '../src/redis/commands'
import { MAX_ENTRANTS_PER_SHARD } from '../src/shared/allocation'
import { ticketIdPrefix } from '../src/shared/ticket-ids'
import { auditSale, newEntryId } from '../src/sale'
import { repoPath } from '../src/util/paths'
import { benchServiceEnv, cleanSlate, startService } from './processes'
import { cpuMs, cpuSpent, findPid } from './cpu-time'
import { api } from './scenarios'
import { envNumber, runBench, workerEnv } from './results-file'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const DATABASE_URL = withDatabase(process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/seckill', 'seckill_bench_draw')
const PREFIX = 'benchdraw'
const SECRET = 'bench-secret-bench-secret-bench-secret-02'
const entries = envNumber('BENCH_ENTRIES', 1_000_000)
const units = envNumber('BENCH_UNITS', 1_000)
const closeInMs = envNumber('BENCH_CLOSE_IN_MS', 15_000)
const port = envNumber('BENCH_PORT', 18280)
/** Admission calls in flight from this process. */
const IN_FLIGHT = 2_000

async function main (): Promise<void> {
  await cleanSlate(DATABASE_URL, REDIS_URL, PREFIX)
  const env = benchServiceEnv({ databaseUrl: DATABASE_URL, redisUrl: REDIS_URL, prefix: PREFIX, secret: SECRET, logLevel: 'info' })
  const ingress = await startService(port, { ...env, PROCESS_ROLE: 'ingress' })
  const worker = await startService(port + 2, { ...env, ...workerEnv(), PROCESS_ROLE: 'worker', METRICS_PORT: String(port + 3) }, undefined, '/metrics', port + 3)
  const redis = createRedis(REDIS_URL)
  const db = createDb(DATABASE_URL, { poolMax: 2 })
  const sign = createTokenSigner(SECRET)
  const admin = sign({ id: '1', role: 'admin' })
  const keys = createKeySpace(PREFIX)
  const a = api(ingress.url)
  const pids = { redis: findPid(new RegExp(`redis-server .*:${new URL(REDIS_URL).port || '6379'}`)), worker: worker.process.pid, ingress: ingress.process.pid, bench: process.pid }
  try {
    const product = await a.call('POST', '/api/v1/admin/products', admin, { title: 'Bench draw', price_cents: 19900 })
    const startAtMs = Date.now() + 600_000
    const created = await a.call('POST', '/api/v1/admin/events', admin, {
      product_id: product.data.id, title: 'Bench draw', price_cents: 9900, stock: units, mode: 'draw', lead_ms: 660_000,
      start_at: new Date(startAtMs).toISOString(), end_at: new Date(startAtMs + 3_600_000).toISOString()
    })
    const eventId = created.data.id as number
    const ref = { eventId, shard: 0 }
    const k = keys.shard(ref)
    const q = keys.buyQueue(ref)

    // The first entry through HTTP: it warms the shard, as a real sale's first buy does.
    const first = await a.call('POST', `/api/v1/events/${eventId}/buy`, sign({ id: '1000001', role: 'user' }))
    if (first.data.awaiting_draw !== true) throw new Error(`the first entry: ${JSON.stringify(first.data)}`)
    const target = { k, q, ticketPrefix: ticketIdPrefix(eventId, 0), overbook: 1, rate: { max: 1_000_000, timeWindow: 60_000 }, cluster: false }
    const window = { startAtMs, opensAtMs: startAtMs - 660_000 }
    const enterStarted = Date.now()
    const cpuEnter = cpuMs(pids)
    let next = 1
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (next < entries) {
        const user = String(1_000_001 + next++)
        const reply = await admitRandomStart(redis, target, user, undefined, window, newEntryId(), MAX_ENTRANTS_PER_SHARD, true)
        if (reply.code !== 5) throw new Error(`entry of ${user}: code ${reply.code}`)
      }
    }))
    const enterMs = Date.now() - enterStarted
    const entered = await redis.hlen(k.entrants)
    if (entered !== entries) throw new Error(`${entered} entrants, ${entries} expected`)
    const redisMemory = async (): Promise<number> => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0)
    const memoryAfterEntries = await redisMemory()
    const enterCpu = cpuSpent(cpuEnter, cpuMs(pids))

    // The close, on MySQL's clock, BENCH_CLOSE_IN_MS from now.
    await db('seckill_events').where({ id: eventId }).update({ start_at: db.raw('NOW(3) + INTERVAL ? MICROSECOND', [closeInMs * 1000]) })
    const row = await db.raw('SELECT UNIX_TIMESTAMP(start_at) * 1000 AS close_ms FROM seckill_events WHERE id = ?', [eventId]) as [Array<{ close_ms: string | number }>]
    const closeMs = Math.round(Number(row[0][0]?.close_ms))
    while (Date.now() < closeMs) await sleep(5)
    const cpuClose = cpuMs(pids)

    // From the close: placed, winners decided (their orders in MySQL), everyone decided.
    const marks: Record<string, number> = {}
    const winnersOrders = async (): Promise<number> => Number((await db('orders').count({ n: '*' }).where({ event_id: eventId }).first() as { n: number | string }).n)
    const deadline = closeMs + envNumber('BENCH_LIMIT_MS', 600_000)
    let memoryPeak = memoryAfterEntries
    while (Date.now() < deadline) {
      const [placed, pending] = await Promise.all([redis.get(k.startPlaced), redis.get(k.pending)])
      if (marks.placedMs === undefined && Number(placed ?? 0) >= entries) marks.placedMs = Date.now() - closeMs
      if (marks.winnersMs === undefined && await winnersOrders() >= units) marks.winnersMs = Date.now() - closeMs
      if (marks.placedMs !== undefined && Number(pending ?? 1) === 0) { marks.decidedMs = Date.now() - closeMs; break }
      memoryPeak = Math.max(memoryPeak, await redisMemory())
      await sleep(20)
    }
    const afterCpu = cpuSpent(cpuClose, cpuMs(pids))
    if (marks.decidedMs === undefined) throw new Error(`not decided within the limit: ${JSON.stringify(marks)}`)

    // The published draw, checked by the README's own script.
    const published = await fetch(`${ingress.url}/api/v1/events/${eventId}/draw`)
    const body = await published.text()
    const check = readmeCheck(JSON.parse(body).data)
    const audit = await auditSale(db, redis, keys, eventId)
    process.stdout.write(`${JSON.stringify({
      entries, units, enterMs, entriesPerSec: Math.round(entries / (enterMs / 1000)), enterCpuMs: enterCpu,
      fromClose: marks, cpuMsFromClose: afterCpu,
      redisMiB: { afterEntries: Math.round(memoryAfterEntries / 1048576), peak: Math.round(memoryPeak / 1048576) },
      drawAnswerMiB: Math.round(body.length / 1048576 * 10) / 10, readmeCheck: check.trim().slice(0, 200), audit: audit.ok ? 'ok' : audit.checks.filter((c) => !c.ok),
      loadAverage1m: loadavg()[0]
    })}\n`)
  } finally {
    await ingress.stop()
    await worker.stop()
    await deleteKeysWithPrefix(redis, `${PREFIX}:`)
    redis.disconnect()
    await db.destroy()
  }
}

/** Runs the README's draw-check block on a GET /draw answer; its output, or why it refused. */
function readmeCheck (data: unknown): string {
  const block = /<!-- draw-check:start -->\n```js\n([\s\S]*?)```\n<!-- draw-check:end -->/.exec(readFileSync(repoPath('README.md'), 'utf8'))?.[1]
  if (block === undefined) throw new Error('the README has no draw-check block')
  const dir = mkdtempSync(join(tmpdir(), 'draw-check-'))
  try {
    writeFileSync(join(dir, 'check-draw.js'), block)
    return execFileSync(process.execPath, [join(dir, 'check-draw.js')], { input: JSON.stringify(data), encoding: 'utf8', maxBuffer: 1 << 26 })
  } catch (err) {
    return `refused: ${String((err as { stderr?: string }).stderr ?? err)}`
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

runBench(main)
