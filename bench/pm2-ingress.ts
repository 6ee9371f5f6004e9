/**
 * `npm run bench:pm2`: 1 against 2 ingress processes under PM2 (cluster mode), with one worker,
 * on this machine. Each setting is started from ecosystem.config.js in a private PM2 home, the
 * baseline route runs beside it, and the same crowds as `npm run bench` are sent (before and after
 * sell-out). The table goes to bench/RESULTS.md between its own markers.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { createTokenSigner } from '../src/http/auth'
import { createKeySpace } from '../src/redis/keys'
import { deleteKeysWithPrefix } from '../src/redis/client'
import { dropDatabase, withDatabase } from '../src/db/knex'
import { repoPath } from '../src/util/paths'
import { startBaseline } from './processes'
import { api, baseline, createEvent, timedRun, waitDecided } from './scenarios'
import type { Rate } from './scenarios'
import { BENCH_PAYMENT_SETTINGS } from './payment-settings'

const run = promisify(execFile)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2)
const PORT = Number(process.env.BENCH_PORT ?? 18080)
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const DATABASE_URL = withDatabase(process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/seckill', 'seckill_bench_pm2')

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] ?? 0 }

async function measure (ingressInstances: number, baselineUrl: string): Promise<{ base: number, before: Rate[], after: Rate[] }> {
  const secret = randomBytes(24).toString('hex')
  const prefix = `benchpm2${randomBytes(3).toString('hex')}`
  const home = mkdtempSync(join(tmpdir(), 'sk-bench-pm2-'))
  const env = {
    PATH: process.env.PATH ?? '', HOME: home, PM2_HOME: home, NODE_ENV: 'production', ...BENCH_PAYMENT_SETTINGS, LOG_LEVEL: 'warn',
    PORT: String(PORT), HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix, DATABASE_URL, JWT_SECRET: secret,
    RATE_LIMIT_BUY: '1000000', RATE_LIMIT_POLL: '1000000', INGRESS_INSTANCES: String(ingressInstances), WORKER_INSTANCES: '1',
    INGRESS_METRICS_PORT: String(PORT + 10), WORKER_METRICS_PORT: String(PORT + 20)
  }
  const pm2 = async (...args: string[]): Promise<void> => { await run(process.execPath, [repoPath('node_modules', 'pm2', 'bin', 'pm2'), ...args], { env, cwd: repoPath() }) }
  const redis = new Redis(REDIS_URL)
  try {
    await pm2('start', repoPath('ecosystem.config.js'))
    const a = api(`http://127.0.0.1:${PORT}`)
    const deadline = Date.now() + 60_000
    for (;;) {
      const ok = await fetch(`${a.base}/readyz`).then((r) => r.ok, () => false)
      if (ok) break
      if (Date.now() > deadline) throw new Error('service under PM2 not ready')
      await sleep(200)
    }
    const sign = createTokenSigner(secret)
    const admin = sign({ id: '1', role: 'admin' })
    const tokens = Array.from({ length: 150_000 }, (_, i) => sign({ id: String(20_000_000 + i), role: 'user' }))
    const keys = createKeySpace(prefix)
    const result = { base: 0, before: [] as Rate[], after: [] as Rate[] }
    const bases: number[] = []
    for (let round = 0; round < ROUNDS; round++) {
      bases.push((await baseline(baselineUrl, SECONDS, 100, (i) => tokens[i % tokens.length] as string)).reqPerSec)
      const big = await createEvent(a, admin, 10_000_000, 1)
      result.before.push(await timedRun(a.base, SECONDS, 100, 'POST', () => `/api/v1/events/${big}/buy`, (i) => tokens[(round * 60_000 + i) % tokens.length] as string))
      await waitDecided(redis, keys, big, 1, 180_000)
      const gone = await createEvent(a, admin, 1, 1)
      await a.call('POST', `/api/v1/events/${gone}/buy`, sign({ id: '42', role: 'user' }))
      await waitDecided(redis, keys, gone, 1, 30_000)
      while ((await a.call('GET', `/api/v1/events/${gone}`, admin)).data.status !== 'sold_out') await sleep(20)
      await sleep(500)
      result.after.push(await timedRun(a.base, SECONDS, 100, 'POST', () => `/api/v1/events/${gone}/buy`, (i) => tokens[(i + 120_000) % tokens.length] as string))
    }
    result.base = median(bases)
    return result
  } finally {
    await pm2('kill').catch(() => undefined)
    await deleteKeysWithPrefix(redis, `${prefix}:`)
    redis.disconnect()
    rmSync(home, { recursive: true, force: true })
  }
}

async function main (): Promise<void> {
  await dropDatabase(DATABASE_URL)
  const baselineChild = await startBaseline(PORT + 1)
  const rows: string[] = []
  try {
    for (const n of [1, 2]) {
      const r = await measure(n, baselineChild.url)
      const fmt = (rs: Rate[]): string => `${median(rs.map((x) => x.reqPerSec)).toFixed(0)} req/s (${(100 * median(rs.map((x) => x.reqPerSec)) / r.base).toFixed(1)} %), p99 ${median(rs.map((x) => x.p99))} ms`
      rows.push(`| ${n} | ${r.base.toFixed(0)} | ${fmt(r.before)} | ${fmt(r.after)} |`)
      process.stdout.write(`${rows[rows.length - 1] ?? ''}\n`)
    }
  } finally {
    await baselineChild.stop()
  }
  const text = [
    `PM2, ecosystem.config.js, 1 worker; median of ${ROUNDS} rounds of ${SECONDS} s; distinct buyers, 100 connections.`,
    '',
    '| ingress processes | baseline req/s | before sell-out (drain running) | after sell-out |',
    '|---|---|---|---|',
    ...rows
  ].join('\n')
  const file = repoPath('bench', 'RESULTS.md')
  const START = '<!-- pm2:start -->'
  const END = '<!-- pm2:end -->'
  let doc = readFileSync(file, 'utf8')
  if (!doc.includes(START)) doc += `\n## 1 or 2 ingress processes under PM2 (\`npm run bench:pm2\`)\n\n${START}\n${END}\n`
  writeFileSync(file, doc.slice(0, doc.indexOf(START)) + `${START}\n${text}\n${END}` + doc.slice(doc.indexOf(END) + END.length))
  process.stdout.write(`\n${text}\n`)
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:pm2 failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
