/**
 * The benchmark's baselines, started beside the service in the same run so every figure can be
 * given as a ratio to what this machine does with no work at all:
 * - `GET /baseline`: a plain Fastify route answering a small JSON (the bare route);
 * - `GET /one-lua`: the same route plus one Lua script call in Redis (one INCR), the ceiling of
 *   a path that makes one round trip, as the admitted buy does. Only with REDIS_URL set.
 * Neither verifies the bearer token the bench sends: they are what Fastify and one script call
 * cost, nothing more.
 */
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import { Redis } from 'ioredis'

type OneLuaRedis = Redis & { oneLua: (key: string) => Promise<number> }

async function main (): Promise<void> {
  const app = Fastify({ logger: false })
  app.get('/baseline', {
    schema: { response: { 200: { type: 'object', properties: { ok: { type: 'boolean' } } } } }
  }, async () => ({ ok: true }))
  let redis: OneLuaRedis | undefined
  if (process.env.REDIS_URL !== undefined) {
    // Auto-pipelining, as the service's client (src/redis/client.ts): concurrent requests' calls share a write.
    const r = new Redis(process.env.REDIS_URL, { enableAutoPipelining: true })
    r.defineCommand('oneLua', { numberOfKeys: 1, lua: "return redis.call('INCR', KEYS[1])" })
    redis = r as OneLuaRedis
    const client = redis
    const key = `bench-one-lua:${randomBytes(4).toString('hex')}`
    app.get('/one-lua', {
      schema: { response: { 200: { type: 'object', properties: { ok: { type: 'boolean' }, n: { type: 'number' } } } } }
    }, async () => ({ ok: true, n: await client.oneLua(key) }))
    app.addHook('onClose', async () => { await client.del(key) })
  }
  const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
  process.stdout.write(`listening ${address}\n`)
  process.on('SIGTERM', () => { void app.close().then(() => { redis?.disconnect(); process.exit(0) }) })
}

void main()
