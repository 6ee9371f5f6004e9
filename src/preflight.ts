/**
 * Start-up checks, run before migrations, before any port is bound and before a drain starts:
 * the HTTP ports are free, Redis answers, MySQL answers. Each check is given CHECK_TIMEOUT_MS
 * and they run side by side, so a missing dependency is named within 5 s as what it is, where it
 * was looked for and which variable says so ("Redis at 127.0.0.1:6399 is unreachable
 * (REDIS_URL)"), instead of a client's retries, warnings and a stack. No credential is ever part
 * of a message: addresses are host:port.
 */
import { createServer } from 'node:net'
import { Cluster, Redis } from 'ioredis'
import { createConnection } from 'mysql2/promise'
import type { Config } from './config'
import { parseDatabaseUrl } from './db/knex'
import { parseNode, urlCredentials } from './redis/client'

/** Each check's bound; the checks run at once, so the whole preflight takes about as long. */
export const CHECK_TIMEOUT_MS = 3000

/** A dependency or a port the service cannot start without; the message is meant for a person. */
export class StartupCheckError extends Error {
  constructor (readonly dependency: 'redis' | 'mysql' | 'port', message: string) {
    super(message)
    this.name = 'StartupCheckError'
  }
}

/** Runs every check that applies to this process's role; rejects with the first failure found. */
export async function preflight (config: Config): Promise<void> {
  const checks: Array<Promise<void>> = [checkRedis(config), checkMysql(config.databaseUrl)]
  if (config.role !== 'worker') checks.push(checkPort(config.host, config.port, 'PORT'))
  if (config.metricsPort > 0) checks.push(checkPort(config.metricsHost, config.metricsPort, 'METRICS_PORT'))
  const results = await Promise.allSettled(checks)
  const failed = results.flatMap((r) => r.status === 'rejected' ? [r.reason as unknown] : [])
  if (failed.length === 0) return
  const first = failed[0]
  if (failed.length === 1 || !(first instanceof StartupCheckError)) throw first
  // Several at once (nothing is running): one message naming each.
  throw new StartupCheckError(first.dependency, failed.map((e) => e instanceof Error ? e.message : String(e)).join('; '))
}

function reason (err: unknown): string {
  const e = err as { code?: string, message?: string }
  return e.code ?? e.message ?? String(err)
}

async function withTimeout<T> (work: Promise<T>, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([work, new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(onTimeout()), CHECK_TIMEOUT_MS) })])
  } finally {
    clearTimeout(timer)
  }
}

/** The port can be bound (in a PM2 cluster worker the bind goes through the primary and is shared). */
export async function checkPort (host: string, port: number, variable: string): Promise<void> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      const what = err.code === 'EADDRINUSE' ? 'is taken by another process' : err.code === 'EACCES' ? 'needs privileges this process lacks' : `cannot be bound (${reason(err)})`
      reject(new StartupCheckError('port', `Port ${port} on ${host} ${what} (${variable})`))
    })
    server.listen({ host, port }, () => server.close(() => resolve()))
  })
}

async function checkRedis (config: Config): Promise<void> {
  if (config.redisClusterNodes.length > 0) {
    await checkRedisCluster(config)
    return
  }
  const u = new URL(config.redisUrl)
  const where = `${u.hostname}:${u.port === '' ? '6379' : u.port}`
  const redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false, connectTimeout: CHECK_TIMEOUT_MS })
  let lastError: unknown
  redis.on('error', (err) => { lastError = err })
  try {
    await withTimeout((async () => { await redis.connect(); await redis.ping() })(), () => new Error('ETIMEDOUT'))
  } catch (err) {
    throw new StartupCheckError('redis', redisProblem(where, lastError ?? err, 'REDIS_URL'))
  } finally {
    redis.disconnect()
  }
}

async function checkRedisCluster (config: Config): Promise<void> {
  const cluster = new Cluster(config.redisClusterNodes.map(parseNode), {
    lazyConnect: true,
    enableOfflineQueue: false,
    clusterRetryStrategy: () => null,
    redisOptions: { ...urlCredentials(config.redisUrl), maxRetriesPerRequest: 0, connectTimeout: CHECK_TIMEOUT_MS }
  })
  let lastError: unknown
  cluster.on('error', (err) => { lastError = err })
  try {
    await withTimeout((async () => { await cluster.connect(); await cluster.ping() })(), () => new Error('ETIMEDOUT'))
  } catch (err) {
    throw new StartupCheckError('redis', redisProblem(`Cluster ${config.redisClusterNodes.join(', ')}`, lastError ?? err, 'REDIS_CLUSTER_NODES, credentials in REDIS_URL'))
  } finally {
    cluster.disconnect()
  }
}

function redisProblem (where: string, err: unknown, variable: string): string {
  const r = reason(err)
  if (/NOAUTH|WRONGPASS|invalid password|invalid username/i.test(`${r} ${(err as Error).message ?? ''}`)) return `Redis at ${where} refused the credentials (${variable})`
  return `Redis at ${where} is unreachable (${variable}): ${r}`
}

async function checkMysql (url: string): Promise<void> {
  const t = parseDatabaseUrl(url)
  const where = `${t.host}:${t.port}`
  let conn: Awaited<ReturnType<typeof createConnection>> | undefined
  try {
    await withTimeout((async () => {
      conn = await createConnection({ host: t.host, port: t.port, user: t.user, password: t.password, connectTimeout: CHECK_TIMEOUT_MS })
      await conn.ping()
    })(), () => Object.assign(new Error('ETIMEDOUT'), { code: 'ETIMEDOUT' }))
  } catch (err) {
    const code = reason(err)
    if (code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR') throw new StartupCheckError('mysql', `MySQL at ${where} refused user ${JSON.stringify(t.user)} (DATABASE_URL)`)
    throw new StartupCheckError('mysql', `MySQL at ${where} is unreachable (DATABASE_URL): ${code}`)
  } finally {
    const c = conn
    if (c !== undefined) await c.end().catch(() => c.destroy())
  }
}
