/**
 * Everything that crosses between the drain's main thread and its piscina threads, in one place:
 * what every thread is handed at start (DrainThreadData, with the shared start stamps), the tasks
 * the main thread posts (DrainTask: one stage of a batch, or one stage of several shards' batches),
 * and what comes back (the wires below). drain-task.ts is the thread's side, stage-pool.ts and
 * drain/batch-pipeline.ts the main thread's.
 *
 * What a stage hands the next one crosses as columns (typed arrays and arrays of strings) in place
 * of an object per ticket. The drain's stages run on piscina threads and their results pass
 * through the main thread, where `postMessage` clones them. Cloned as objects, a 1,000-ticket
 * batch's reservation took 2.3 ms and its write result 1.4 ms to serialize and read back, each
 * crossing twice: about a third of the worker's CPU per order in bench:drain (v8.serialize of the
 * real shapes; the columns take 0.12 ms). Of a reservation and a write result the main thread only
 * reads `leaseLost`; every other field is for the thread that runs the next stage, which turns the
 * columns back into the shapes of drain-batch.ts. Nothing else changes: the order of `holding` is
 * not kept (its readers make a Map of it). A finished batch ends on the main thread (metrics),
 * which reads its outcomes as columns (0.55 ms per 1,000 outcomes cloned as objects, 0.005 ms as
 * columns).
 *
 * Nothing that cannot be cloned (functions, class instances, connections) may ever be put in a
 * task, a result or the thread data; and the thread data is read once per thread, so nothing that
 * changes after start belongs there.
 */
import type { DrainBatchInput, DrainBatchResult, Holding, Reservation, TicketOutcome, Written } from './drain-batch'
import type { WriteResult } from '../src/orders'
import type { TracingConfig } from '../src/config'

/** What the dispatcher hands every thread at start. */
export interface DrainThreadData {
  readonly redisUrl: string
  readonly redisClusterNodes: readonly string[]
  readonly redisPrefix: string
  readonly databaseUrl: string
  readonly faultPoint: string | undefined
  readonly paymentTimeoutMs: number
  /** The process's clock skew (tests and drills only), so the thread's stamps read as its dispatcher's clock. */
  readonly clockSkewMs: number
  readonly tracing: TracingConfig
  /** Where a thread stamps when it began a stage (stage-pool.ts), shared with the dispatcher. */
  readonly startStamps: StartStamps
}

/** Shared memory where a thread stamps when it began a stage (ms since the epoch; 0: not yet). */
export type StartStamps = BigInt64Array

export function createStartStamps (slots: number): StartStamps {
  return new BigInt64Array(new SharedArrayBuffer(slots * BigInt64Array.BYTES_PER_ELEMENT))
}

/** One stage of a batch as the main thread hands it to a thread. */
export type StagePart =
  | { readonly stage: 'reserve', readonly input: DrainBatchInput }
  | { readonly stage: 'write', readonly input: DrainBatchInput, readonly reservation: ReservationWire }
  | { readonly stage: 'finish', readonly input: DrainBatchInput, readonly reservation: ReservationWire, readonly written: WrittenWire }

export type StageKind = StagePart['stage']

/** One task: one stage of a batch (the drainer overlaps the stages of consecutive batches). */
export type DrainTask = (
  | StagePart
  /** One stage of several shards' batches: reserves and finishes side by side, each settling
   *  alone; writes in one transaction (writeBatches), failing as a whole. */
  | { readonly stage: 'many', readonly kind: StageKind, readonly parts: readonly StagePart[] }
) & {
  /** Slot of the start stamps where the thread notes when it begins the stage: its timeout starts there. */
  readonly stamp?: number
}

/** What a task resolves to: a stage's wire, or for `many` each part's, settled alone. */
export type DrainTaskResult = FinishedWire | ReservationWire | WrittenWire | Array<PromiseSettledResult<unknown>>

export interface ReservationWire {
  readonly leaseLost: boolean
  /** Per ticket, in the reservation's order: queue position, buyer, and where its unit is held. */
  readonly qpos: Int32Array
  readonly users: readonly string[]
  /** The shard holding the ticket's unit, or -1 when it holds none. */
  readonly holdShard: Int32Array
  /** Bit 0: held in its own shard (local); bit 1: reserved by this run (fresh). */
  readonly holdFlags: Uint8Array
  readonly skipped: readonly number[]
  readonly siblingsFree: ReadonlyArray<readonly [number, number]>
  readonly reserveMs: number
  readonly replay?: boolean
}

/** The write's result per position: won (new or existing order) or failed, in columns. */
export interface WrittenWire {
  readonly leaseLost: boolean
  readonly writeMs: number
  readonly qpos: Int32Array
  /** 0: won, 1: won by an order written before (`existing`), 2: failed. */
  readonly kind: Uint8Array
  /** The order id of a win, the reason of a failure. */
  readonly detail: readonly string[]
  /** For an existing order, the shard holding its unit; -1 otherwise. */
  readonly heldAt: Int32Array
}

/** A failed write's result (its reasons are the order write's own). */
type WriteFailure = Extract<WriteResult, { kind: 'failed' }>

const LOCAL = 1
const FRESH = 2
const WON = 0
const WON_BEFORE = 1
const FAILED = 2

export function toReservationWire (r: Reservation): ReservationWire {
  const n = r.tickets.length
  const holding = new Map(r.holding)
  const qpos = new Int32Array(n)
  const holdShard = new Int32Array(n).fill(-1)
  const holdFlags = new Uint8Array(n)
  const users: string[] = new Array(n)
  r.tickets.forEach((t, i) => {
    qpos[i] = t.qpos
    users[i] = t.userId
    const h = holding.get(t.qpos)
    if (h !== undefined) {
      holdShard[i] = h.shard
      holdFlags[i] = (h.local ? LOCAL : 0) | (h.fresh ? FRESH : 0)
    }
  })
  return {
    leaseLost: r.leaseLost,
    qpos,
    users,
    holdShard,
    holdFlags,
    skipped: r.skipped,
    siblingsFree: r.siblingsFree,
    reserveMs: r.reserveMs,
    ...(r.replay === undefined ? {} : { replay: r.replay })
  }
}

export function fromReservationWire (w: ReservationWire): Reservation {
  const tickets: Array<{ qpos: number, userId: string }> = new Array(w.qpos.length)
  const holding: Array<[number, Holding]> = []
  for (let i = 0; i < w.qpos.length; i++) {
    const qpos = w.qpos[i] as number
    tickets[i] = { qpos, userId: w.users[i] as string }
    const shard = w.holdShard[i] as number
    if (shard >= 0) {
      const flags = w.holdFlags[i] as number
      holding.push([qpos, { shard, local: (flags & LOCAL) !== 0, fresh: (flags & FRESH) !== 0 }])
    }
  }
  return {
    leaseLost: w.leaseLost,
    tickets,
    holding,
    skipped: w.skipped,
    siblingsFree: w.siblingsFree,
    reserveMs: w.reserveMs,
    ...(w.replay === undefined ? {} : { replay: w.replay })
  }
}

export function toWrittenWire (written: Written): WrittenWire {
  const n = written.results.length
  const qpos = new Int32Array(n)
  const kind = new Uint8Array(n)
  const heldAt = new Int32Array(n).fill(-1)
  const detail: string[] = new Array(n)
  written.results.forEach(([q, r], i) => {
    qpos[i] = q
    if (r.kind === 'won') {
      kind[i] = r.existing === true ? WON_BEFORE : WON
      detail[i] = r.orderId
      if (r.heldAt !== undefined) heldAt[i] = r.heldAt
    } else {
      kind[i] = FAILED
      detail[i] = r.reason
    }
  })
  return { leaseLost: written.leaseLost, writeMs: written.writeMs, qpos, kind, detail, heldAt }
}

export function fromWrittenWire (w: WrittenWire): Written {
  const results: Array<[number, WriteResult]> = new Array(w.qpos.length)
  for (let i = 0; i < w.qpos.length; i++) {
    const k = w.kind[i] as number
    const detail = w.detail[i] as string
    const heldAt = w.heldAt[i] as number
    const result: WriteResult = k === FAILED
      ? { kind: 'failed', reason: detail as WriteFailure['reason'] }
      : k === WON_BEFORE
        ? { kind: 'won', orderId: detail, existing: true, ...(heldAt >= 0 ? { heldAt } : {}) }
        : { kind: 'won', orderId: detail, ...(heldAt >= 0 ? { heldAt } : {}) }
    results[i] = [w.qpos[i] as number, result]
  }
  return { leaseLost: w.leaseLost, results, writeMs: w.writeMs }
}

/** A ticket outcome's status, as `OutcomeColumns.status` holds it (the index in this list). */
export const OUTCOME_STATUSES = ['won', 'sold_out', 'failed', 'skipped'] as const satisfies ReadonlyArray<TicketOutcome['status']>
type OutcomeStatus = typeof OUTCOME_STATUSES[number]
const STATUS_CODE: Record<OutcomeStatus, number> = { won: 0, sold_out: 1, failed: 2, skipped: 3 }

/** A batch's outcomes in ticket order: position, status (index in OUTCOME_STATUSES), and the
 *  order id of a win or the reason of a failure ('' otherwise). */
interface OutcomeColumns {
  readonly qpos: Int32Array
  readonly status: Uint8Array
  readonly detail: readonly string[]
}

/** A finished batch as the main thread receives it. */
export interface FinishedWire extends Omit<DrainBatchResult, 'outcomes'> {
  readonly outcomes: OutcomeColumns
}

export function toFinishedWire (r: DrainBatchResult): FinishedWire {
  const n = r.outcomes.length
  const qpos = new Int32Array(n)
  const status = new Uint8Array(n)
  const detail: string[] = new Array(n)
  r.outcomes.forEach((o, i) => {
    qpos[i] = o.qpos
    status[i] = STATUS_CODE[o.status]
    detail[i] = o.status === 'won' ? o.orderId : o.status === 'failed' ? o.reason : ''
  })
  return { ...r, outcomes: { qpos, status, detail } }
}

/** How many outcomes have each status. */
export function countOutcomes (o: OutcomeColumns): Record<OutcomeStatus, number> {
  const counts = [0, 0, 0, 0]
  for (let i = 0; i < o.status.length; i++) counts[o.status[i] as number]++
  return { won: counts[0] as number, sold_out: counts[1] as number, failed: counts[2] as number, skipped: counts[3] as number }
}
