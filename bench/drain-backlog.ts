/**
 * `npm run bench:drain`: the drain's own pace alone, the backlog scenario of flash-crowd.ts without
 * the rest: BENCH_ROUNDS (3) rounds of a BENCH_BACKLOG (20,000)-ticket backlog admitted while the
 * worker is paused, then drained with nobody polling; each round audited, then the machine's insert
 * ceiling measured in the same round (scenarios.ts insertCeiling: a bare loop of 1,000-row inserts
 * into the same table). Prints one JSON line with every round's orders per second, ceiling and
 * ratio, and the medians, and the CPU each process spent per 1,000 orders in the drain and in the
 * ceiling (from /proc), for before/after comparisons of a change to the drain (run it on both
 * commits, interleaved, on the same machine). BENCH_WORKER_ENV: settings for
 * the worker (results-file.ts).
 */
import { Redis } from 'ioredis'
import { createTokenSigner } from '../src/http/auth'
import { createDb, withDatabase } from '../src/db/knex'
import { createKeySpace } from '../src/redis/keys'
import { auditSale } from '../src/sale'
import { benchServiceEnv, cleanSlate, startService } from './processes'
import { median, workerEnv } from './results-file'
import { cpuMs, cpuSpent, findPid } from './cpu-time'
import { STOPPED_WORKER_ENV, api, backlogDrain, insertCeiling, perBatch, stageTotals } from './scenarios'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const DATABASE_URL = withDatabase(process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/seckill', 'seckill_bench_drain')
const PREFIX = 'benchdrain'
const SECRET = 'bench-secret-bench-secret-bench-secret-01'
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const backlog = Number(process.env.BENCH_BACKLOG ?? 20_000)
const port = Number(process.env.BENCH_PORT ?? 18180)

async function main (): Promise<void> {
  await cleanSlate(DATABASE_URL, REDIS_URL, PREFIX)
  const env = {
    ...benchServiceEnv({ databaseUrl: DATABASE_URL, redisUrl: REDIS_URL, prefix: PREFIX, secret: SECRET, logLevel: 'warn' }),
    // Passed on when set (a busy machine's loop lag would shed the bench's own admissions).
    ...(process.env.OVERLOAD_EVENT_LOOP_DELAY_MS === undefined ? {} : { OVERLOAD_EVENT_LOOP_DELAY_MS: process.env.OVERLOAD_EVENT_LOOP_DELAY_MS })
  }
  const ingress = await startService(port, { ...env, PROCESS_ROLE: 'ingress' })
  const worker = await startService(port + 2, { ...env, ...STOPPED_WORKER_ENV, ...workerEnv(), PROCESS_ROLE: 'worker', METRICS_PORT: String(port + 3) }, process.env.BENCH_PROFILE_DIR, '/metrics', port + 3)
  const redis = new Redis(REDIS_URL)
  const db = createDb(DATABASE_URL, { poolMax: 2 })
  const sign = createTokenSigner(SECRET)
  const admin = sign({ id: '1', role: 'admin' })
  const keys = createKeySpace(PREFIX)
  const perSecond: number[] = []
  const firstMs: number[] = []
  const drainMs: number[] = []
  const ceilings: number[] = []
  // Where the machine's cores went, per 1,000 orders: in the drain and in the ceiling's loop.
  const pids = { mariadb: findPid(/mariadbd|mysqld/), redis: findPid(new RegExp(`redis-server .*:${new URL(REDIS_URL).port || '6379'}`)), worker: worker.process.pid, ingress: ingress.process.pid, bench: process.pid }
  const cpuPerThousand: Array<{ drain: Record<string, number>, ceiling: Record<string, number> }> = []
  const perThousand = (spent: Record<string, number>): Record<string, number> =>
    Object.fromEntries(Object.entries(spent).map(([k, v]) => [k, Math.round((v * 1000) / backlog * 10) / 10]))
  const stages: Array<Record<string, number>> = []
  try {
    for (let round = 0; round < rounds; round++) {
      const before = await stageTotals(port + 3)
      const drained = await backlogDrain(api(ingress.url), worker, redis, keys, admin, (u) => sign({ id: u, role: 'user' }), backlog, 70_000_000 + round * 1_000_000, pids)
      const audit = await auditSale(db, redis, keys, drained.eventId)
      if (!audit.ok) throw new Error(`round ${round + 1}: audit failed: ${JSON.stringify(audit.checks.filter((c) => !c.ok))}`)
      perSecond.push(Math.round(drained.ordersPerSec))
      firstMs.push(drained.firstMs)
      drainMs.push(drained.ms)
      const cpuBefore = cpuMs(pids)
      ceilings.push(Math.round(await insertCeiling(db, drained.eventId, backlog, 80_000_000 + round * 1_000_000)))
      cpuPerThousand.push({ drain: perThousand(drained.cpuMs), ceiling: perThousand(cpuSpent(cpuBefore, cpuMs(pids))) })
      stages.push(perBatch(before, await stageTotals(port + 3)))
    }
  } finally {
    await ingress.stop()
    await worker.stop()
    redis.disconnect()
    await db.destroy()
  }
  const ofCeiling = perSecond.map((v, i) => Math.round((1000 * v) / (ceilings[i] ?? 1)) / 10)
  process.stdout.write(`${JSON.stringify({ backlog, rounds: perSecond, median: median(perSecond), ceilings, ofCeilingPercent: ofCeiling, medianOfCeilingPercent: median(ofCeiling), drainMs, firstDecisionMs: firstMs, msPerBatch: stages, cpuMsPerThousandOrders: cpuPerThousand })}\n`)
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:drain failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
