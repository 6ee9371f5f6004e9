/**
 * The drain threads as the drainers use them: at most one stage per thread at a time. A stage's
 * timeout then measures its own run, not its wait behind other batches' stages in piscina's queue
 * (on a loaded machine that wait alone could pass the timeout, abort a healthy stage and end its
 * thread, again and again).
 *
 * The timeout starts when the thread says it has begun the stage (a message on a port handed over
 * with the task), not when the task is posted: a thread that replaces an ended one first loads its
 * modules and opens its connections, which on a loaded machine took longer than a short stage
 * timeout, so the replacement was ended too, and its replacement, and the shard never moved again.
 * Getting to the start has a bound of its own (`startTimeoutMs`), for a thread that never starts.
 */
import { MessageChannel } from 'node:worker_threads'
import type Piscina from 'piscina'
import type { DrainTask } from './drain-task'

/** Why a stage was abandoned. */
export class StageTimeoutError extends Error {
  constructor (readonly phase: 'start' | 'run', ms: number) {
    super(phase === 'start' ? `drain stage did not start within ${ms} ms` : `drain stage ran longer than ${ms} ms`)
    this.name = 'StageTimeoutError'
  }
}

/** The least time a thread is given to start a stage (load, connect), whatever the stage timeout. */
const MIN_START_TIMEOUT_MS = 30_000

export class StagePool {
  private busy = 0
  private readonly waiting: Array<() => void> = []

  constructor (private readonly pool: Piscina, private readonly slots: number) {}

  /** Runs a stage on a free thread; past `timeoutMs` of running the thread is ended and the stage rejects. */
  async run<T> (task: DrainTask, timeoutMs: number): Promise<T> {
    await this.acquire()
    const { port1, port2 } = new MessageChannel()
    const abort = new AbortController()
    const startTimeoutMs = Math.max(MIN_START_TIMEOUT_MS, timeoutMs)
    let timer = setTimeout(() => abort.abort(new StageTimeoutError('start', startTimeoutMs)), startTimeoutMs)
    port1.once('message', () => {
      clearTimeout(timer)
      timer = setTimeout(() => abort.abort(new StageTimeoutError('run', timeoutMs)), timeoutMs)
    })
    try {
      return await this.pool.run({ ...task, started: port2 }, { signal: abort.signal, transferList: [port2] }) as T
    } finally {
      clearTimeout(timer)
      port1.close()
      this.release()
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
