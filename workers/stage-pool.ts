/**
 * The drain threads as the drainers use them: at most one stage per thread at a time. A stage's
 * timeout then measures its own run, not its wait behind other batches' stages in piscina's queue
 * (on a loaded machine that wait alone could pass the timeout, abort a healthy stage and end its
 * thread, again and again).
 *
 * The timeout starts when the thread has begun the stage, not when the task is posted: a thread that
 * replaces an ended one first loads its modules and opens its connections, which on a loaded
 * machine took longer than a short stage timeout, so the replacement was ended too, and its
 * replacement, and the shard never moved again. Getting to the start has a bound of its own
 * (`startTimeoutMs`), for a thread that never starts. The thread stamps the time it began in a
 * slot of shared memory (`StartStamps`) that the timer reads when it fires; a message port per
 * stage did the same, but posting it with every task was the costliest part of the drain's main
 * thread with many shards live (measured: bench:many, CPU profile).
 */
import type Piscina from 'piscina'
import { createStartStamps } from './thread-protocol'
import type { DrainTask, StageKind, StagePart, StartStamps } from './thread-protocol'

/** Why a stage was abandoned. */
class StageTimeoutError extends Error {
  constructor (readonly phase: 'start' | 'run', ms: number) {
    super(phase === 'start' ? `drain stage did not start within ${ms} ms` : `drain stage ran longer than ${ms} ms`)
    this.name = 'StageTimeoutError'
  }
}

/** The least time a thread is given to start a stage (load, connect), whatever the stage timeout. */
const MIN_START_TIMEOUT_MS = 30_000
/** Most shards' batches in one task (one transaction for writes), and most tickets in it. */
const MAX_PARTS = 32
const MAX_TICKETS = 2000

/** A stage of one shard's batch, with what the stages before it produced. */
interface Queued {
  readonly part: StagePart
  readonly resolve: (result: unknown) => void
  readonly reject: (err: unknown) => void
}

export class StagePool {
  private busy = 0
  /** Stamp slots not in use by a running stage. */
  private readonly freeStamps: number[]
  private readonly waiting: Array<() => void> = []
  /** Stages waiting for a thread, by kind: whatever waits when one frees goes in one task. */
  private readonly queued: Record<StageKind, Queued[]> = { reserve: [], write: [], finish: [] }
  private readonly runnerWaiting: Record<StageKind, boolean> = { reserve: false, write: false, finish: false }

  /** `stamps`: at least `slots` of them, shared with the threads (workerData). */
  constructor (private readonly pool: Piscina, private readonly slots: number, private readonly stamps: StartStamps = createStartStamps(slots)) {
    this.freeStamps = Array.from({ length: slots }, (_, i) => slots - 1 - i)
  }

  /** Runs a task on a free thread; past `timeoutMs` of running the thread is ended and the task rejects. */
  async run<T> (task: DrainTask, timeoutMs: number): Promise<T> {
    await this.acquire()
    try {
      return await this.runAcquired<T>(task, timeoutMs)
    } finally {
      this.release()
    }
  }

  /**
   * One stage of a shard's batch. The stages of one kind that wait for a thread at the same time,
   * each of another shard, go to it as one task (drain-task.ts `many`): with many small sales live,
   * a stage per task left the threads waiting on Redis and MySQL one shard at a time while the
   * others queued (bench:many, 50 sales: a batch took 650 ms of which its stages ran 40). Reserves
   * and finishes run side by side in the thread and each settles alone; writes go in one
   * transaction (drain-batch.ts writeBatches). A shard's next stage of a kind is queued only after
   * its last one succeeded (drain/batch-pipeline.ts), so two parts of a task are never of one shard. If
   * a joint task fails as a whole (a joint write, an ended thread), each part runs again alone, so
   * one shard's failure holds up no other.
   */
  async stage<T> (part: StagePart, timeoutMs: number): Promise<T> {
    return await new Promise<T>((resolve, reject) => {
      this.queued[part.stage].push({ part, resolve: resolve as (result: unknown) => void, reject })
      this.startRunner(part.stage, timeoutMs)
    })
  }

  private startRunner (kind: StageKind, timeoutMs: number): void {
    if (this.runnerWaiting[kind] || this.queued[kind].length === 0) return
    this.runnerWaiting[kind] = true
    void this.acquire().then(async () => {
      this.runnerWaiting[kind] = false
      const batch = this.take(kind)
      // Past one task's bound the rest wait for the next thread.
      this.startRunner(kind, timeoutMs)
      let settled: Array<PromiseSettledResult<unknown>> | undefined
      try {
        if (batch.length === 1) {
          settled = [await this.runAcquired<unknown>((batch[0] as Queued).part, timeoutMs).then(
            (value) => ({ status: 'fulfilled' as const, value }), (reason: unknown) => ({ status: 'rejected' as const, reason }))]
        } else {
          settled = await this.runAcquired<Array<PromiseSettledResult<unknown>>>({ stage: 'many', kind, parts: batch.map((q) => q.part) }, timeoutMs)
        }
      } catch {
        // The joint task failed as a whole: each part alone, below.
      } finally {
        this.release()
      }
      if (settled !== undefined) {
        batch.forEach((q, i) => {
          const r = settled?.[i]
          if (r?.status === 'fulfilled') q.resolve(r.value)
          else q.reject(r?.reason ?? new Error('stage result missing'))
        })
        return
      }
      for (const q of batch) this.run<unknown>(q.part, timeoutMs).then(q.resolve, q.reject)
    })
  }

  private take (kind: StageKind): Queued[] {
    const queue = this.queued[kind]
    let tickets = 0
    let n = 0
    while (n < queue.length && n < MAX_PARTS) {
      const size = queue[n]?.part.input.positions.length ?? 0
      if (n > 0 && tickets + size > MAX_TICKETS) break
      tickets += size
      n++
    }
    return queue.splice(0, n)
  }

  /** Runs a task on the slot the caller holds. */
  private async runAcquired<T> (task: DrainTask, timeoutMs: number): Promise<T> {
    const stamp = this.freeStamps.pop() as number
    Atomics.store(this.stamps, stamp, 0n)
    const abort = new AbortController()
    const startTimeoutMs = Math.max(MIN_START_TIMEOUT_MS, timeoutMs)
    const posted = Date.now()
    let timer: NodeJS.Timeout | undefined
    const check = (): void => {
      const began = Number(Atomics.load(this.stamps, stamp))
      const now = Date.now()
      if (began === 0) {
        if (now - posted >= startTimeoutMs) abort.abort(new StageTimeoutError('start', startTimeoutMs))
        else timer = setTimeout(check, Math.min(timeoutMs, startTimeoutMs - (now - posted)))
      } else if (now - began >= timeoutMs) {
        abort.abort(new StageTimeoutError('run', timeoutMs))
      } else {
        timer = setTimeout(check, began + timeoutMs - now)
      }
    }
    timer = setTimeout(check, timeoutMs)
    try {
      return await this.pool.run({ ...task, stamp }, { signal: abort.signal }) as T
    } finally {
      clearTimeout(timer)
      this.freeStamps.push(stamp)
    }
  }

  private async acquire (): Promise<void> {
    if (this.busy < this.slots) {
      this.busy++
      return
    }
    // The releasing stage hands its slot over directly.
    await new Promise<void>((resolve) => this.waiting.push(resolve))
  }

  private release (): void {
    const next = this.waiting.shift()
    if (next !== undefined) next()
    else this.busy--
  }
}
