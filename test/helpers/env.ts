/**
 * Each test owns its data: a random Redis prefix and its own MySQL database, both removed when the
 * test ends. Tests can therefore run in parallel against the one local Redis and MariaDB.
 */
import type { Test } from './tap-types'
import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { loadConfig } from '../../src/config'
import type { Config } from '../../src/config'
import { createDb, dropDatabase, migrateLatest, withDatabase } from '../../src/db/knex'
import type { Db } from '../../src/db/knex'
import { createRedis, createRedisClient, deleteKeysWithPrefix } from '../../src/redis/client'
import { createKeySpace } from '../../src/redis/keys'
import type { KeySpace } from '../../src/redis/keys'
import { createTokenSigner } from '../../src/http/auth'
import type { AuthUser } from '../../src/http/auth'

export const BASE_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
export const BASE_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'mysql://root@127.0.0.1:3306/test'
export const TEST_SECRET = 'test-secret-test-secret-test-secret-0123'

export interface TestEnv {
  readonly id: string
  readonly config: Config
  /** Plain environment of this test, for child processes. */
  readonly env: Record<string, string>
  readonly redis: Redis
  readonly db: Db
  readonly keys: KeySpace
  token: (userId: string | number, role?: AuthUser['role']) => string
  /** Runs `fn` at the end of the test, before the environment is removed (last deferred, first run). */
  defer: (fn: () => Promise<unknown> | unknown) => void
}

/** An isolated environment, removed by `dispose` (tests use `testEnv`; fault drills use this). */
export async function isolatedEnv (overrides: Record<string, string> = {}): Promise<{ env: TestEnv, dispose: () => Promise<void> }> {
  const id = randomBytes(5).toString('hex')
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'error',
    REDIS_URL: BASE_REDIS_URL,
    REDIS_PREFIX: `t${id}`,
    DATABASE_URL: withDatabase(BASE_DATABASE_URL, `sk_t${id}`),
    JWT_SECRET: TEST_SECRET,
    DISCOVERY_MS: '100',
    LEASE_MS: '2000',
    GAP_GRACE_MS: '200',
    EVENT_CACHE_MS: '200',
    SHUTDOWN_DRAIN_MS: '0',
    RATE_LIMIT_BUY: '1000000',
    RATE_LIMIT_POLL: '1000000',
    // Tests run side by side on a busy machine, where a test process's event loop lags for reasons
    // of its own (startup, migrations): no shedding unless the test is about it.
    OVERLOAD_EVENT_LOOP_DELAY_MS: '0',
    ...overrides
  }
  const config = loadConfig(env)
  await migrateLatest(config.databaseUrl)
  // On a Redis Cluster of the test's own (drills, cluster tests): a cluster client, which answers
  // the same commands (every key is hash-tagged); the cluster is thrown away with its keys.
  const cluster = config.redisClusterNodes.length > 0
  const redis = cluster
    ? createRedisClient({ url: config.redisUrl, clusterNodes: config.redisClusterNodes }, { name: 'test' }) as unknown as Redis
    : createRedis(config.redisUrl, { name: 'test' })
  // With several statements a query, as the drain threads have it (their order write's fast path).
  const db = createDb(config.databaseUrl, { poolMax: 4, multipleStatements: true })
  const sign = createTokenSigner(TEST_SECRET)
  const deferred: Array<() => Promise<unknown> | unknown> = []
  const dispose = async (): Promise<void> => {
    for (const fn of deferred.reverse()) await fn()
    await db.destroy()
    if (!cluster) await deleteKeysWithPrefix(redis, `${config.redisPrefix}:`)
    redis.disconnect()
    await dropDatabase(config.databaseUrl)
  }
  return {
    env: {
      id,
      config,
      env,
      redis,
      db,
      keys: createKeySpace(config.redisPrefix),
      token: (userId, role = 'user') => sign({ id: String(userId), role }),
      defer: (fn) => { deferred.push(fn) }
    },
    dispose
  }
}

export async function testEnv (t: Test, overrides: Record<string, string> = {}): Promise<TestEnv> {
  const { env, dispose } = await isolatedEnv(overrides)
  t.teardown(dispose)
  return env
}
