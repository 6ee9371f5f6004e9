/**
 * Piscina task file: runs one drain batch on a worker thread. Connections are opened once per
 * thread, on its first task, and reused. What crosses threads -- the thread's start data, the
 * tasks, and the columns a stage hands the next -- is thread-protocol.ts. With tracing on, each
 * stage is a span under its batch's. A task must never keep state between tasks beyond the
 * thread's connections: any thread may run any shard's next stage.
 */
// First: tracing, when configured, must hook ioredis and mysql2 before this thread loads them.
import './drain-thread-tracing'
import { setTimeout as sleep } from 'node:timers/promises'
import { isMainThread, threadId, workerData } from 'node:worker_threads'
import type { RedisClient } from '../src/redis/scripts'
import type { Knex } from 'knex'
import { createRedisClient } from '../src/redis/client'
import { createKeySpace } from '../src/redis/keys'
import type { KeySpace } from '../src/redis/keys'
import { createDb } from '../src/db/knex'
import { probeConsecutiveIds } from '../src/orders'
import { finishBatch, reserveBatch, writeBatch, writeBatches } from './drain-batch'
import type { DrainBatchInput, DrainDeps } from './drain-batch'
import { fromReservationWire, fromWrittenWire, toFinishedWire, toReservationWire, toWrittenWire } from './thread-protocol'
import type { DrainTask, DrainTaskResult, DrainThreadData, StageKind, StagePart } from './thread-protocol'
import { inChildSpan } from '../src/tracing/spans'
import { skewClock } from '../src/util/clock'

// A thread has a Date of its own: it keeps the same time as its process (src/util/clock.ts).
if (!isMainThread) skewClock((workerData as DrainThreadData).clockSkewMs)

interface ThreadState {
  readonly redis: RedisClient
  readonly db: Knex
  readonly deps: DrainDeps
}

let state: Promise<ThreadState> | undefined

async function init (): Promise<ThreadState> {
  state ??= (async () => {
    const data = workerData as DrainThreadData
    const redis = createRedisClient({ url: data.redisUrl, clusterNodes: data.redisClusterNodes }, { name: 'drain-thread' })
    // A lost connection fails the stage's commands, and the dispatcher logs the failed batch with
    // its error; without a listener ioredis would also print every reconnect error raw.
    redis.on('error', () => undefined)
    const db = createDb(data.databaseUrl, { poolMax: 2, multipleStatements: true })
    const keys = createKeySpace(data.redisPrefix)
    const fault = faultInjector(data.faultPoint, redis, keys)
    const orderWrites = { paymentTimeoutMs: data.paymentTimeoutMs, consecutiveIds: await probeConsecutiveIds(db) }
    const base = { redis, db, keys, orderWrites }
    return { redis, db, deps: fault === undefined ? base : { ...base, fault } }
  })()
  // A failed start (MySQL down) is tried again by the next task.
  state.catch(() => { state = undefined })
  return await state
}

/**
 * Test-only faults, named `drain:<what>-<where>`, each firing once per Redis prefix:
 *   drain:thread-exit-after-reserve   the thread ends mid-batch, after reserving
 *   drain:thread-throw-after-reserve  the batch throws after reserving
 *   drain:thread-hang-after-reserve   the thread blocks for good after reserving (a hung batch)
 *   drain:process-kill-after-reserve  the whole worker process is killed (SIGKILL)
 *   drain:process-kill-after-commit   the same, after the orders committed, before outcomes
 */
function faultInjector (spec: string | undefined, redis: RedisClient, keys: KeySpace): DrainDeps['fault'] {
  if (spec === undefined || !spec.startsWith('drain:')) return undefined
  const m = /^drain:(thread-exit|thread-throw|thread-hang|process-kill)-(after-reserve|after-commit)$/.exec(spec)
  if (m === null) throw new Error(`SECKILL_FAULT: unknown drain fault ${spec}`)
  const [, what, where] = m
  return async (point) => {
    if (point !== where) return
    if (await redis.set(keys.faultFired, spec, 'NX') !== 'OK') return
    if (what === 'thread-exit') process.exit(1)
    if (what === 'thread-throw') throw new Error(`injected fault ${spec}`)
    // Blocks this thread's event loop for good: nothing but ending the thread stops it.
    if (what === 'thread-hang') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0)
    process.kill(process.pid, 'SIGKILL')
  }
}

// Connections open as the thread starts, not inside its first stage (whose time is limited).
if (!isMainThread) init().catch(() => undefined)

/** How long a warmed thread waits at the barrier for the others (a thread that cannot start). */
const WARM_BARRIER_MS = 10_000

/**
 * Opens the thread's connections before the first batch arrives (a cold first batch is slow).
 * `barrier` ([joined, expected], shared): the task holds its thread until every expected warm task
 * has joined, so each of them lands on another thread (piscina gives a busy thread no second
 * task) and the whole pool is warm when they all resolve. Returns the thread's id.
 */
export async function warm (barrier?: Int32Array): Promise<number> {
  const s = await init()
  await Promise.all([s.redis.ping(), s.db.raw('SELECT 1')])
  if (barrier !== undefined) {
    Atomics.add(barrier, 0, 1)
    // Start-up only: a short poll, not a notify, keeps this simple.
    const deadline = Date.now() + WARM_BARRIER_MS
    while (Atomics.load(barrier, 0) < Atomics.load(barrier, 1) && Date.now() < deadline) await sleep(5)
  }
  return threadId
}

export default async function run (task: DrainTask): Promise<DrainTaskResult> {
  const { deps } = await init()
  if (task.stamp !== undefined) Atomics.store((workerData as DrainThreadData).startStamps, task.stamp, BigInt(Date.now()))
  switch (task.stage) {
    case 'reserve': return toReservationWire(await inStageSpan('reserve', task.input, async () => await reserveBatch(deps, task.input)))
    case 'write': return toWrittenWire(await inStageSpan('write', task.input, async () => await writeBatch(deps, task.input, fromReservationWire(task.reservation))))
    case 'many': return await runMany(deps, task.kind, task.parts)
    case 'finish': return toFinishedWire(await inStageSpan('finish', task.input, async () => await finishBatch(deps, task.input, fromReservationWire(task.reservation), fromWrittenWire(task.written))))
  }
}

const spanAttributes = (input: DrainBatchInput, tickets = input.positions.length): Record<string, number> =>
  ({ 'seckill.event_id': input.eventId, 'seckill.shard': input.shard, 'seckill.tickets': tickets })

/** A stage under its batch's span (a no-op without tracing). */
async function inStageSpan<T> (stage: StageKind, input: DrainBatchInput, fn: () => Promise<T>): Promise<T> {
  return await inChildSpan(`drain.${stage}`, input.trace, spanAttributes(input), fn)
}

async function runMany (deps: DrainDeps, kind: StageKind, parts: readonly StagePart[]): Promise<Array<PromiseSettledResult<unknown>>> {
  if (kind === 'write') {
    // One transaction for several shards' batches: its span is under the first batch's, linked to the others'.
    const first = parts[0]?.input as DrainBatchInput
    const tickets = parts.reduce((n, p) => n + p.input.positions.length, 0)
    const written = await inChildSpan('drain.write', first.trace, { ...spanAttributes(first, tickets), 'seckill.batches': parts.length },
      async () => await writeBatches(deps, parts.flatMap((p) => p.stage === 'write' ? [{ input: p.input, reservation: fromReservationWire(p.reservation) }] : [])),
      parts.slice(1).map((p) => p.input.trace ?? ''))
    return written.map((value) => ({ status: 'fulfilled', value: toWrittenWire(value) }))
  }
  return await Promise.allSettled(parts.map(async (p) => {
    if (p.stage === 'reserve') return toReservationWire(await inStageSpan('reserve', p.input, async () => await reserveBatch(deps, p.input)))
    if (p.stage === 'finish') return toFinishedWire(await inStageSpan('finish', p.input, async () => await finishBatch(deps, p.input, fromReservationWire(p.reservation), fromWrittenWire(p.written))))
    throw new Error(`stage ${p.stage} in a ${kind} task`)
  }))
}
