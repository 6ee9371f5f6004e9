/**
 * Process entry. PROCESS_ROLE picks what runs here: `ingress` (HTTP), `worker` (drain), or `all`
 * (both in one process, for development and the quick start). Migrations run at start.
 * Before anything starts, the ports and the dependencies are checked (preflight.ts): a failure is
 * named and exits 3. SIGINT/SIGTERM stop admitting, finish the batches in flight, then close every
 * connection (close-with-grace, which does the same on an uncaught error and exits 1).
 */
// First: tracing, when configured, must hook the libraries before anything loads them.
import { processTracing } from './tracing/preload'
import { loadConfig, ConfigError } from './config'
import type { Config } from './config'
import { createLogger } from './logger'
import type { Logger } from './logger'
import { createRuntime } from './runtime'
import type { Runtime } from './runtime'
import { buildIngress } from './app'
import type { Ingress } from './app'
import { Dispatcher } from '../workers/dispatcher'
import { countOutcomes } from '../workers/thread-protocol'
import Fastify from 'fastify'
import closeWithGrace from 'close-with-grace'
import type { FastifyInstance } from 'fastify'
import { metricsRoute, probeRoutes } from './http/routes/health'
import { PaymentDeadlines } from './orders'
import { PaymentReconciler } from './orders'
import { AdminPasswordMismatchError, ensureAdmin } from './identity'
import { WeakPasswordError } from './identity'
import { preflight, StartupCheckError } from './preflight'
import { startupBanner } from './startup-banner'
import { skewClock } from './util/clock'

export interface Service {
  readonly runtime: Runtime
  readonly ingress: Ingress | undefined
  readonly dispatcher: Dispatcher | undefined
  /** The bound address when the ingress listens. */
  readonly address: string | undefined
  stop: () => Promise<void>
}

function poolStats (rt: Runtime): { mysqlUsed: number, mysqlFree: number, mysqlPending: number, redisReady: number } {
  const pool = (rt.db.client as { pool?: { numUsed: () => number, numFree: () => number, numPendingAcquires: () => number } }).pool
  return {
    mysqlUsed: pool?.numUsed() ?? 0,
    mysqlFree: pool?.numFree() ?? 0,
    mysqlPending: pool?.numPendingAcquires() ?? 0,
    redisReady: rt.redis.status === 'ready' ? 1 : 0
  }
}

export async function startService (config: Config, log: Logger): Promise<Service> {
  const runtime = await createRuntime(config, log)
  if (runtime.jwtSecretIsDevelopment) {
    log.warn('JWT_SECRET is not set: tokens are signed with this deployment\'s random development secret (kept in its database). Set JWT_SECRET for a real sale; NODE_ENV=production requires it.')
  }
  let ingress: Ingress | undefined
  let dispatcher: Dispatcher | undefined
  let address: string | undefined
  let metricsServer: FastifyInstance | undefined
  let deadlines: PaymentDeadlines | undefined
  let reconciler: PaymentReconciler | undefined
  let stopping: Promise<void> | undefined
  /** The metrics listener's readiness: false from the moment the process starts stopping. */
  const probeState = { shuttingDown: false }
  // Stops whatever has started, so a start that fails part-way leaves nothing running.
  const stop = async (): Promise<void> => {
    probeState.shuttingDown = true
    stopping ??= (async () => {
      await ingress?.close()
      await dispatcher?.stop()
      await deadlines?.close()
      await reconciler?.close()
      await metricsServer?.close()
      await runtime.close()
      await processTracing?.shutdown().catch((err: unknown) => log.warn({ err }, 'sending the last spans failed'))
    })()
    await stopping
  }
  try {
    if (config.adminEmail !== undefined && config.adminPassword !== undefined) {
      const admin = await ensureAdmin({ users: runtime.users, sessions: { redis: runtime.redis, keys: runtime.keys, ttlMs: config.accessTokenTtlMs } }, config.adminEmail, config.adminPassword)
      log.info({ adminId: admin.id }, 'admin account ready')
    }
    if (config.role !== 'ingress') {
      const bullConnection = runtime.connect('bullmq', { maxRetriesPerRequest: null })
      // Expires unpaid orders at their deadlines, on MySQL's clock (never this process's).
      deadlines = new PaymentDeadlines(runtime.lifecycle, log, (n) => runtime.metrics.ordersExpired.inc(n))
      deadlines.start()
      // Asks the provider about payments whose webhook has not come (lost, dropped, late).
      reconciler = new PaymentReconciler(runtime.payments.deps, { afterMs: config.payments.reconcileAfterMs, everyMs: config.payments.reconcileEveryMs }, log)
      reconciler.start()
      dispatcher = new Dispatcher({
        config,
        redis: runtime.redis,
        db: runtime.db,
        bullConnection,
        keys: runtime.keys,
        events: runtime.events,
        log,
        onLeaseMove: (move) => runtime.metrics.leaseMoves.inc({ move }),
        onBreakerState: (state) => {
          runtime.metrics.drainBreakerState.set(state === 'closed' ? 0 : state === 'half_open' ? 1 : 2)
          runtime.metrics.drainBreakerTransitions.inc({ to: state })
        },
        onBatchFailure: () => runtime.metrics.drainBatchFailures.inc(),
        onShardReset: () => runtime.metrics.failoverResets.inc({ by: 'worker' }),
        onBatch: (report) => {
          const m = runtime.metrics
          for (const t of report.admittedAt) {
            m.queueWaitSeconds.observe(Math.max(0, report.startedAt - t) / 1000)
            m.ticketSeconds.observe(Math.max(0, report.endedAt - t) / 1000)
          }
          const decided = countOutcomes(report.result.outcomes)
          m.ordersCommitted.inc(decided.won)
          m.drainBatchSize.observe(report.size)
          m.drainBatchSeconds.observe({ stage: 'reserve' }, report.result.reserveMs / 1000)
          m.drainBatchSeconds.observe({ stage: 'order_write' }, report.result.writeMs / 1000)
          m.drainBatchSeconds.observe({ stage: 'finish' }, report.result.finishMs / 1000)
          m.drainBatchSeconds.observe({ stage: 'batch' }, report.ms / 1000)
          m.recoveredTickets.inc(report.recovered)
          for (const status of ['won', 'sold_out', 'failed'] as const) if (decided[status] > 0) m.ticketsDecided.inc({ status }, decided[status])
        }
      })
      await dispatcher.start()
      const owner = dispatcher
      runtime.metrics.watch({ shards: { shardDepths: async () => await owner.shardDepths() } })
    }
    runtime.metrics.watch({ pools: { poolStats: () => poolStats(runtime) } })
    if (config.metricsPort > 0) {
      // A scrape still being read when the process stops is cut: a client that stops reading must
      // not hold the shutdown (a bench's readiness probe that left /metrics unread held it past
      // SHUTDOWN_TIMEOUT_MS, and the process exited 1).
      metricsServer = Fastify({ logger: false, forceCloseConnections: true })
      await metricsServer.register(metricsRoute, { rt: runtime })
      await metricsServer.register(probeRoutes, { rt: runtime, state: probeState })
      await metricsServer.listen({ host: config.metricsHost, port: config.metricsPort })
    }
    if (config.role !== 'worker') {
      ingress = await buildIngress(runtime)
      address = await ingress.app.listen({ host: config.host, port: config.port })
      runtime.payments.listening(address)
      log.info({ address }, 'ingress listening')
      // PM2 (wait_ready) routes traffic to a reloaded instance only once it listens.
      process.send?.('ready')
    }
  } catch (err) {
    await stop().catch((stopErr: unknown) => log.error({ err: stopErr }, 'stopping a failed start failed'))
    throw err
  }
  return { runtime, ingress, dispatcher, address, stop }
}

async function main (): Promise<void> {
  let config: Config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(2)
    }
    throw err
  }
  // Tests and drills only (refused in production): this process's clock set off, as a host's can be.
  if (config.clockSkewMs !== 0) skewClock(config.clockSkewMs)
  const log = createLogger(config.logLevel, config.role)
  try {
    // Before migrating, binding or draining: a missing dependency or a taken port is named at once.
    await preflight(config)
  } catch (err) {
    if (err instanceof StartupCheckError) {
      log.fatal({ dependency: err.dependency }, err.message)
      process.stderr.write(`seckill cannot start: ${err.message}\n`)
      process.exit(3)
    }
    throw err
  }
  let service: Service
  try {
    service = await startService(config, log)
  } catch (err) {
    if (err instanceof AdminPasswordMismatchError || err instanceof WeakPasswordError) {
      const message = err instanceof WeakPasswordError ? `ADMIN_PASSWORD refused: ${err.message}` : err.message
      log.fatal(message)
      process.stderr.write(`${message}\n`)
      process.exit(2)
    }
    throw err
  }
  if (config.nodeEnv !== 'production') process.stderr.write(startupBanner(config, service.address))
  // SIGINT, SIGTERM (and the other terminating signals), an uncaught exception or an unhandled
  // rejection: stop admitting, finish the batches in flight, close every connection, within
  // SHUTDOWN_TIMEOUT_MS; an error exits 1, a signal 0.
  const graceful = closeWithGrace({
    delay: config.shutdownTimeoutMs,
    logger: { error: (...args: unknown[]) => log.error({ detail: args.map(String) }, 'shutdown did not complete') },
    onTimeout: () => log.error('shutdown timed out; exiting')
  }, async ({ signal, err }) => {
    if (err !== undefined) log.fatal({ err }, 'unexpected error; shutting down')
    else log.info({ signal }, 'shutting down')
    await service.stop()
  })
  process.on('message', (msg) => { if (msg === 'shutdown') graceful.close() })
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`failed to start: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
    process.exit(1)
  })
}
