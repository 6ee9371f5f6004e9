/**
 * The drain's piscina threads, as the dispatcher opens them: one pool per worker process, every
 * thread handed its start data (thread-protocol.ts DrainThreadData, with the shared start stamps),
 * the stage pool the drainers run their stages on, and the warm-up that opens every thread's
 * connections before any shard is taken. Warming must never wait for a thread that cannot start
 * (a barrier with a time limit; the failure is logged and its first stage connects by itself).
 */
import Piscina from 'piscina'
import type { Logger } from 'pino'
import type { Config } from '../src/config'
import { repoPath } from '../src/util/paths'
import { clockSkewMs } from '../src/util/clock'
import { StagePool } from './stage-pool'
import { createStartStamps } from './thread-protocol'
import type { DrainThreadData } from './thread-protocol'

/** Opens the pool of drain threads, and the stage pool the drainers use on it. */
export function openDrainThreads (config: Config): { pool: Piscina, stages: StagePool } {
  const startStamps = createStartStamps(config.workerThreads)
  const workerData: DrainThreadData = {
    redisUrl: config.redisUrl,
    redisClusterNodes: [...config.redisClusterNodes],
    redisPrefix: config.redisPrefix,
    databaseUrl: config.databaseUrl,
    faultPoint: config.faultPoint,
    paymentTimeoutMs: config.paymentTimeoutMs,
    clockSkewMs: clockSkewMs(),
    tracing: config.tracing,
    startStamps
  }
  const pool = new Piscina({
    filename: repoPath('dist', 'workers', 'drain-task.js'),
    minThreads: config.workerThreads,
    maxThreads: config.workerThreads,
    // Threads wait on sockets, not on the pool: let their event loops run between tasks.
    atomics: 'disabled',
    idleTimeout: Number.POSITIVE_INFINITY,
    workerData
  })
  return { pool, stages: new StagePool(pool, config.workerThreads, startStamps) }
}

/**
 * Warms every drain thread (modules loaded, connections open) with drain-task.ts `warm`: each
 * warm task holds its thread at a shared barrier until all have joined, so each lands on another
 * thread. Resolves to how many distinct threads warmed.
 */
export async function warmDrainThreads (pool: Piscina, threads: number, log: Logger): Promise<number> {
  const started = performance.now()
  const barrier = new Int32Array(new SharedArrayBuffer(8))
  barrier[1] = threads
  const warmed = await Promise.allSettled(Array.from({ length: threads }, async () => await pool.run(barrier, { name: 'warm' }) as number))
  for (const w of warmed) if (w.status === 'rejected') log.warn({ err: w.reason }, 'warming a drain thread failed')
  const distinct = new Set(warmed.flatMap((w) => w.status === 'fulfilled' ? [w.value] : [])).size
  log.info({ threads: distinct, ms: Math.round(performance.now() - started) }, 'drain threads warm')
  return distinct
}
