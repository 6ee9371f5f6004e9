/**
 * The process's shared resources, created once and closed once: Redis connections, the MySQL
 * pool, repositories. Both the ingress and the worker are built from it.
 */
import type { Logger } from 'pino'
import type { Config } from './config'
import { createDb, migrateLatest } from './db/knex'
import { developmentJwtSecret } from './db/development-secret'
import type { Db } from './db/knex'
import { eventsRepository } from './catalog'
import type { EventsRepository } from './catalog'
import { productsRepository } from './catalog'
import type { ProductsRepository } from './catalog'
import { createRedisClient } from './redis/client'
import type { RedisClient } from './redis/scripts'
import { createKeySpace } from './redis/keys'
import type { KeySpace } from './redis/keys'
import { createMetrics } from './metrics'
import { ordersRepository } from './orders'
import type { OrdersRepository } from './orders'
import type { LifecycleDeps } from './orders'
import { usersRepository } from './identity'
import type { UsersRepository } from './identity'
import type { Metrics } from './metrics'
import { createPayments } from './orders'
import type { PaymentsSetup } from './orders'

export interface Runtime {
  readonly config: Config
  readonly log: Logger
  readonly redis: RedisClient
  readonly db: Db
  readonly keys: KeySpace
  readonly events: EventsRepository
  readonly products: ProductsRepository
  readonly orders: OrdersRepository
  readonly users: UsersRepository
  /** What the order lifecycle (pay, cancel, expire) works with. */
  readonly lifecycle: LifecycleDeps
  readonly metrics: Metrics
  /** The payment provider and the payment flow's dependencies. */
  readonly payments: PaymentsSetup
  /** The JWT key: JWT_SECRET, or this deployment's own development secret. */
  readonly jwtSecret: string
  /** True when JWT_SECRET was not set and the development secret is in use. */
  readonly jwtSecretIsDevelopment: boolean
  /** A new connection with the runtime's settings (subscribers, BullMQ blocking clients). */
  connect: (name: string, opts?: { maxRetriesPerRequest?: number | null }) => RedisClient
  close: () => Promise<void>
}

export async function createRuntime (config: Config, log: Logger, opts: { migrate?: boolean } = {}): Promise<Runtime> {
  if (opts.migrate !== false) await migrateLatest(config.databaseUrl)
  const target = { url: config.redisUrl, clusterNodes: config.redisClusterNodes }
  const extra: RedisClient[] = []
  const connect = (name: string, o: { maxRetriesPerRequest?: number | null } = {}): RedisClient => {
    const c = createRedisClient(target, { name, maxRetriesPerRequest: o.maxRetriesPerRequest })
    c.on('error', (err) => log.warn({ err, connection: name }, 'redis connection error'))
    extra.push(c)
    return c
  }
  const redis = createRedisClient(target, { name: 'main' })
  redis.on('error', (err) => log.warn({ err }, 'redis error'))
  const db = createDb(config.databaseUrl)
  const jwtSecret = config.jwtSecret ?? await developmentJwtSecret(db)
  const keys = createKeySpace(config.redisPrefix)
  const events = eventsRepository(db)
  const orders = ordersRepository(db)
  const metrics = createMetrics(config.role)
  const lifecycle: LifecycleDeps = { db, orders, events, sale: { redis, keys }, log, instantPay: config.payments.provider === 'local' }
  const payments = createPayments({ config: config.payments, db, lifecycle, jwtSecret, log, onOutcome: (outcome) => metrics.payments.inc({ outcome }) })
  metrics.watch({ payments: { paymentsByStatus: payments.deps.payments.countByStatus } })
  return {
    config,
    log,
    redis,
    db,
    keys,
    events,
    products: productsRepository(db),
    orders,
    users: usersRepository(db),
    lifecycle,
    metrics,
    payments,
    jwtSecret,
    jwtSecretIsDevelopment: config.jwtSecret === undefined,
    connect,
    async close () {
      await payments.close()
      await Promise.all(extra.map(async (c) => await c.quit().catch(() => c.disconnect())))
      await redis.quit().catch(() => redis.disconnect())
      await db.destroy()
    }
  }
}
