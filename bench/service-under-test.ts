/**
 * The service as the smaller benches run it: the ingress and the worker as separate processes (as
 * PM2 runs them) on their own Redis prefix and MySQL database, with signed buyers, restarted with
 * other settings between cells (tracing on or off, shedding on or off).
 */
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { createDb, dropDatabase, withDatabase } from '../src/db/knex'
import { createKeySpace } from '../src/redis/keys'
import type { KeySpace } from '../src/redis/keys'
import { deleteKeysWithPrefix } from '../src/redis/client'
import { createTokenSigner } from '../src/http/auth'
import { startService } from './processes'
import type { Child } from './processes'
import { api as apiClient, createEvent, waitDecided } from './scenarios'
import { BENCH_PAYMENT_SETTINGS } from './payment-settings'

export interface Bench {
  readonly redis: Redis
  readonly keys: KeySpace
  readonly db: ReturnType<typeof createDb>
  readonly userToken: (user: string) => string
  /** Starts ingress and worker with `extra` settings; returns the ingress URL and a stop. With
   *  `profileDir`, both write a V8 CPU profile there when they exit. */
  start: (extra: Record<string, string>, profileDir?: string) => Promise<{ url: string, stop: () => Promise<void> }>
  /** A sale with stock to spare (every buyer admitted and queued). */
  bigSale: (url: string) => Promise<number>
  decided: (eventId: number, ms?: number) => Promise<number>
  close: () => Promise<void>
}

export async function openBench (port: number, database: string): Promise<Bench> {
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
  const databaseUrl = withDatabase(process.env.DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/seckill', database)
  await dropDatabase(databaseUrl)
  const secret = randomBytes(24).toString('hex')
  const prefix = `bench${randomBytes(3).toString('hex')}`
  const sign = createTokenSigner(secret)
  const redis = new Redis(redisUrl)
  const db = createDb(databaseUrl, { poolMax: 2 })
  const keys = createKeySpace(prefix)
  const env = {
    NODE_ENV: 'production',
    ...BENCH_PAYMENT_SETTINGS,
    LOG_LEVEL: 'warn',
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    DATABASE_URL: databaseUrl,
    JWT_SECRET: secret,
    RATE_LIMIT_BUY: '1000000',
    RATE_LIMIT_POLL: '1000000',
    SHUTDOWN_DRAIN_MS: '0'
  }
  const admin = sign({ id: '1', role: 'admin' })
  return {
    redis,
    keys,
    db,
    userToken: (u) => sign({ id: u, role: 'user' }),
    async start (extra, profileDir) {
      const ingress: Child = await startService(port, { ...env, ...extra, PROCESS_ROLE: 'ingress' }, profileDir)
      const worker: Child = await startService(port + 2, { ...env, ...extra, PROCESS_ROLE: 'worker', METRICS_PORT: String(port + 3) }, profileDir, '/metrics', port + 3)
      return { url: ingress.url, stop: async () => { await ingress.stop(); await worker.stop() } }
    },
    bigSale: async (url) => await createEvent(apiClient(url), admin, 10_000_000, 1),
    decided: async (eventId, ms = 120_000) => await waitDecided(redis, keys, eventId, 1, ms),
    async close () {
      await deleteKeysWithPrefix(redis, `${prefix}:`)
      redis.disconnect()
      await db.destroy()
    }
  }
}
