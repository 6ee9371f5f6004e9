/**
 * `node dist/bench/pow-cost.js`: what a proof of work costs the ingress per admitted buy (issue
 * 34). One ingress (the worker stopped, so only the ingress and Redis work), two sales with stock
 * to spare: one without proof of work, one with it. Rounds alternate the two (plain, proof; then
 * proof, plain; ...) so a change in the machine's load falls on both; each round sends the same
 * number of buys, each from a buyer never seen before and, on the proof sale, with a proof solved
 * beforehand by this process (minted with the service's key, as GET /events/:id/challenge does;
 * the difficulty does not change the ingress's check: one HMAC and one SHA-256 whatever it is).
 * Each round is metered (cpu-time.ts: the ingress's CPU from /proc, and Redis's).
 *
 * Options (environment): BENCH_ROUNDS (7), BENCH_REQUESTS (6000 per round and side),
 * BENCH_CONNECTIONS (50), BENCH_PORT (18780), REDIS_URL, DATABASE_URL.
 */
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import { dropDatabase, withDatabase } from '../src/db/knex'
import { deleteKeysWithPrefix } from '../src/redis/client'
import { createTokenSigner } from '../src/http/auth'
import { createChallenge, powKeyFrom, proofHeaderOf, solveChallenge } from '../src/sale'
import { startService } from './processes'
import type { Child } from './processes'
import { api } from './scenarios'
import { costMeter } from './cpu-time'
import { envNumber, median } from './results-file'
import { BENCH_PAYMENT_SETTINGS } from './payment-settings'

const ROUNDS = envNumber('BENCH_ROUNDS', 7)
const REQUESTS = envNumber('BENCH_REQUESTS', 6000)
const C = envNumber('BENCH_CONNECTIONS', 50)
const PORT = envNumber('BENCH_PORT', 18780)
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const DATABASE_URL = withDatabase(process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/seckill', 'seckill_bench_pow')
const DIFFICULTY = 1000

interface Round { readonly serviceUs: number, readonly redisUs: number, readonly reqPerSec: number, readonly non2xx: number }

async function main (): Promise<void> {
  await dropDatabase(DATABASE_URL)
  const secret = randomBytes(24).toString('hex')
  const prefix = `benchpow${randomBytes(3).toString('hex')}`
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
    SHUTDOWN_DRAIN_MS: '0',
    OVERLOAD_EVENT_LOOP_DELAY_MS: '0'
  }
  const redis = new Redis(REDIS_URL)
  const children: Child[] = []
  try {
    const ingress = await startService(PORT, { ...env, PROCESS_ROLE: 'ingress' }, undefined, '/readyz', PORT)
    children.push(ingress)
    const worker = await startService(PORT + 2, { ...env, PROCESS_ROLE: 'worker', METRICS_PORT: String(PORT + 3) }, undefined, '/metrics', PORT + 3)
    children.push(worker)
    const a = api(ingress.url)
    const admin = sign({ id: '1', role: 'admin' })
    const product = await a.call('POST', '/api/v1/admin/products', admin, { title: 'Bench sneaker', price_cents: 19900 })
    const sale = async (fields: Record<string, unknown>): Promise<number> => {
      const start = Date.now() - 1000
      const created = await a.call('POST', '/api/v1/admin/events', admin, {
        product_id: product.data.id, title: 'Bench', price_cents: 9900, stock: 10_000_000, shards: 1,
        start_at: new Date(start).toISOString(), end_at: new Date(start + 3_600_000).toISOString(), ...fields
      })
      return created.data.id as number
    }
    const plain = await sale({})
    const proved = await sale({ pow_max_number: DIFFICULTY })
    await sleep(500)
    // Only the ingress and Redis work during the rounds; admitted tickets wait in their queue.
    worker.process.kill('SIGSTOP')

    const key = powKeyFrom(secret)
    let nextUser = 10_000_000
    const run = async (eventId: number, withProof: boolean): Promise<Round> => {
      const users = Array.from({ length: REQUESTS }, () => String(nextUser++))
      const tokens = users.map((u) => sign({ id: u, role: 'user' }))
      const proofs = withProof
        ? users.map((u) => {
          const c = createChallenge(key, eventId, u, DIFFICULTY, Date.now() + 600_000)
          return proofHeaderOf(c, solveChallenge(c))
        })
        : undefined
      let n = 0
      const meter = await costMeter({ service: ingress.process.pid }, redis)
      const result = await autocannon({
        url: ingress.url,
        connections: C,
        amount: REQUESTS,
        requests: [{
          method: 'POST',
          setupRequest: (req) => {
            const i = n++
            const headers: Record<string, string> = { ...req.headers as Record<string, string>, authorization: `Bearer ${tokens[i % REQUESTS] as string}` }
            if (proofs !== undefined) headers['x-proof-of-work'] = proofs[i % REQUESTS] as string
            return { ...req, path: `/api/v1/events/${eventId}/buy`, headers }
          }
        }]
      })
      const cpu = await meter(result.requests.total)
      return { serviceUs: cpu.service ?? NaN, redisUs: cpu.redis ?? NaN, reqPerSec: result.requests.total / result.duration, non2xx: result.non2xx }
    }
    // Warm-up (JIT) of both, unmetered.
    await run(plain, false)
    await run(proved, true)
    const rounds = { plain: [] as Round[], proved: [] as Round[] }
    for (let i = 0; i < ROUNDS; i++) {
      const order: Array<'plain' | 'proved'> = i % 2 === 0 ? ['plain', 'proved'] : ['proved', 'plain']
      for (const side of order) rounds[side].push(await run(side === 'plain' ? plain : proved, side === 'proved'))
      const p = rounds.plain.at(-1) as Round
      const q = rounds.proved.at(-1) as Round
      process.stdout.write(`round ${i + 1}/${ROUNDS}: without ${p.serviceUs.toFixed(0)} µs/buy (${p.reqPerSec.toFixed(0)}/s), with ${q.serviceUs.toFixed(0)} µs/buy (${q.reqPerSec.toFixed(0)}/s); non-2xx ${p.non2xx}/${q.non2xx}\n`)
    }
    worker.process.kill('SIGCONT')
    process.stdout.write('\n' + report(rounds) + '\n')
  } finally {
    for (const c of children.reverse()) {
      c.process.kill('SIGCONT')
      await c.stop()
    }
    await deleteKeysWithPrefix(redis, `${prefix}:`)
    redis.disconnect()
    await dropDatabase(DATABASE_URL)
  }
}

function stat (xs: number[], digits = 0): string {
  const v = xs.filter((x) => Number.isFinite(x))
  return v.length === 0 ? '–' : `${median(v).toFixed(digits)} (${Math.min(...v).toFixed(digits)}–${Math.max(...v).toFixed(digits)})`
}

function report (r: { plain: Round[], proved: Round[] }): string {
  const ratio = r.proved.map((q, i) => q.serviceUs / (r.plain[i] as Round).serviceUs)
  const row = (name: string, rs: Round[]): string =>
    `| ${name} | ${stat(rs.map((x) => x.serviceUs))} | ${stat(rs.map((x) => x.redisUs))} | ${stat(rs.map((x) => x.reqPerSec))} | ${rs.reduce((s, x) => s + x.non2xx, 0)} |`
  return [
    `${ROUNDS} rounds of ${REQUESTS} admitted buys per side, ${C} connections; median (min–max) of the rounds. Proof sale: pow_max_number ${DIFFICULTY}.`,
    '',
    '| buy | ingress µs/buy | Redis µs/buy | buys/s | non-2xx |',
    '|---|---|---|---|---|',
    row('without proof of work', r.plain),
    row('with proof of work', r.proved),
    '',
    `with / without, per round: ${stat(ratio, 3)}`
  ].join('\n')
}

main().catch((err: unknown) => {
  process.stderr.write(`bench pow-cost failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exit(1)
})
