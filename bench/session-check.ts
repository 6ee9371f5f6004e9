/**
 * `node dist/bench/session-check.js`: what the session check (src/identity/sessions.ts) costs an
 * authenticated request. One Fastify server, the real authenticator against the local Redis; two
 * routes that differ only in it: `/checked` (auth.required: the token's session is looked up, one
 * HMGET) and `/plain` (auth.crowd: the token alone, as buy and poll have it). Alternating rounds
 * with autocannon; reported: requests per second and latency p50/p99, medians of the rounds.
 *
 * Options: BENCH_SECONDS (3 per run), BENCH_ROUNDS (3), BENCH_CONNECTIONS (10).
 */
import autocannon from 'autocannon'
import Fastify from 'fastify'
import { createAuthenticator, createTokenSigner } from '../src/http/auth'
import { createRedis, deleteKeysWithPrefix } from '../src/redis/client'
import { createKeySpace } from '../src/redis/keys'
import { raiseSessionGen } from '../src/redis/commands'
import { envNumber, median } from './results-file'

const SECONDS = envNumber('BENCH_SECONDS', 3)
const ROUNDS = envNumber('BENCH_ROUNDS', 3)
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 10)
const SECRET = 'bench-secret-bench-secret-bench-secret-0'

async function main (): Promise<void> {
  const prefix = `bsc${process.pid}`
  const redis = createRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { name: 'bench-session-check' })
  const keys = createKeySpace(prefix)
  const ttlMs = 900_000
  const auth = createAuthenticator(SECRET, { redis, keys, ttlMs, generationOf: async () => 0 })
  const app = Fastify()
  app.get('/checked', { onRequest: auth.required }, async (request) => ({ id: request.user?.id }))
  app.get('/plain', { onRequest: auth.crowd }, async (request) => ({ id: request.user?.id }))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  // One token per connection's user would be closer to a crowd; one user is the worst case for
  // nothing (the hash is as small either way) and keeps fast-jwt's cache warm for both routes.
  const token = createTokenSigner(SECRET)({ id: '7', role: 'user', sessionGen: 0, family: 'f'.repeat(22) })
  await raiseSessionGen(redis, keys.sessions('7'), 0, ttlMs)
  const run = async (path: string): Promise<{ rps: number, p50: number, p99: number }> => {
    const r = await autocannon({ url: url + path, connections: CONNECTIONS, duration: SECONDS, headers: { authorization: `Bearer ${token}` } })
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`${path}: ${r.non2xx} non-2xx, ${r.errors} errors`)
    return { rps: r.requests.total / SECONDS, p50: r.latency.p50, p99: r.latency.p99 }
  }
  const results: Record<string, Array<{ rps: number, p50: number, p99: number }>> = { '/plain': [], '/checked': [] }
  await run('/plain') // warm-up
  for (let i = 0; i < ROUNDS; i++) {
    for (const path of ['/plain', '/checked']) results[path]?.push(await run(path))
  }
  for (const [path, rs] of Object.entries(results)) {
    process.stdout.write(`${path.padEnd(9)} ${median(rs.map((r) => r.rps)).toFixed(0)} req/s  p50 ${median(rs.map((r) => r.p50))} ms  p99 ${median(rs.map((r) => r.p99))} ms  (rounds: ${rs.map((r) => r.rps.toFixed(0)).join(', ')} req/s)\n`)
  }
  await app.close()
  await deleteKeysWithPrefix(redis, `${prefix}:`)
  redis.disconnect()
}

main().catch((err: unknown) => { console.error(err); process.exit(1) })
