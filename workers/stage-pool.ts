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
import type { DrainTask } from './drain-task'
import type { WritePart, Written } from './drain-batch'

/** Why a stage was abandoned. */
export class StageTimeoutError extends Error {
  constructor (readonly phase: 'start' | 'run', ms: number) {
    super(phase === 'start' ? `drain stage did not start within ${ms} ms` : `drain stage ran longer than ${ms} ms`)
    this.name = 'StageTimeoutError'
  }
}

/** The least time a thread is given to start a stage (load, connect), whatever the stage timeout. */
const MIN_START_TIMEOUT_MS = 30_000
/** Most shards' batches written in one transaction, and most tickets in it. */
const MAX_WRITE_PARTS = 32
const MAX_WRITE_TICKETS = 2000

interface QueuedWrite {
  readonly part: WritePart
  readonly resolve: (w: Written) => void
  readonly reject: (err: unknown) => void
}

/** Shared memory where a thread stamps when it began a stage (ms since the epoch; 0: not yet). */
export type StartStamps = BigInt64Array

export function createStartStamps (slots: number): StartStamps {
  return new BigInt64Array(new SharedArrayBuffer(slots * BigInt64Array.BYTES_PER_ELEMENT))
}

export class StagePool {
  private busy = 0
  /** Stamp slots not in use by a running stage. */
  private readonly freeStamps: number[]
  private readonly waiting: Array<() => void> = []
  /** Write stages waiting for a thread: whatever is here when one frees goes in one transaction. */
  private writes: QueuedWrite[] = []
  private writerWaiting = false

  /** `stamps`: at least `slots` of them, shared with the threads (workerData). */
  constructor (private readonly pool: Piscina, private readonly slots: number, private readonly stamps: StartStamps = createStartStamps(slots)) {
    this.freeStamps = Array.from({ length: slots }, (_, i) => slots - 1 - i)
  }

  /** Runs a stage on a free thread; past `timeoutMs` of running the thread is ended and the stage rejects. */
  async run<T> (task: DrainTask, timeoutMs: number): Promise<T> {
    await this.acquire()
    try {
      return await this.runAcquired<T>(task, timeoutMs)
    } finally {
      this.release()
    }
  }

  /**
   * A batch's write stage. Writes of different shards that wait for a thread at the same time are
   * written together, in one transaction (drain-batch.ts writeBatches): with many small sales the
   * commit is most of a small batch's cost. A shard's next write is queued only after its last
   * one succeeded (batch-pipeline.ts), so two parts are never of one shard. If a joint write fails,
   * each part is written again alone, so one shard's failure holds up no other.
   */
  async write (part: WritePart, timeoutMs: number): Promise<Written> {
    return await new Promise<Written>((resolve, reject) => {
      this.writes.push({ part, resolve, reject })
      this.startWriter(timeoutMs)
    })
  }

  private startWriter (timeoutMs: number): void {
    if (this.writerWaiting || this.writes.length === 0) return
    this.writerWaiting = true
    void this.acquire().then(async () => {
      this.writerWaiting = false
      const batch = this.takeWrites()
      // Past one transaction's bound the rest wait for the next thread.
      this.startWriter(timeoutMs)
      const alone = (w: QueuedWrite): DrainTask => ({ stage: 'write', input: w.part.input, reservation: w.part.reservation })
      let written: Written[] | undefined
      let failure: unknown
      try {
        written = batch.length === 1
          ? [await this.runAcquired<Written>(alone(batch[0] as QueuedWrite), timeoutMs)]
          : await this.runAcquired<Written[]>({ stage: 'write-many', parts: batch.map((w) => w.part) }, timeoutMs)
      } catch (err) {
        failure = err
      } finally {
        this.release()
      }
      if (written !== undefined) batch.forEach((w, i) => w.resolve(written[i] as Written))
      else if (batch.length === 1) batch[0]?.reject(failure)
      // Undone as a whole: each part again, alone.
      else for (const w of batch) this.run<Written>(alone(w), timeoutMs).then(w.resolve, w.reject)
    })
  }

  private takeWrites (): QueuedWrite[] {
    let tickets = 0
    let n = 0
    while (n < this.writes.length && n < MAX_WRITE_PARTS) {
      const size = this.writes[n]?.part.input.positions.length ?? 0
      if (n > 0 && tickets + size > MAX_WRITE_TICKETS) break
      tickets += size
      n++
    }
    const batch = this.writes.slice(0, n)
    this.writes = this.writes.slice(n)
    return batch
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
