/**
 * The drain threads as the drainers use them: at most one stage per thread at a time. A stage's
 * timeout then measures its own run, not its wait behind other batches' stages in piscina's queue
 * (on a loaded machine that wait alone could pass the timeout, abort a healthy stage and end its
 * thread, again and again).
 */
import type Piscina from 'piscina'
import type { DrainTask } from './drain-task'

export class StagePool {
  private busy = 0
  private readonly waiting: Array<() => void> = []

  constructor (private readonly pool: Piscina, private readonly slots: number) {}

  /** Runs a stage on a free thread; past `timeoutMs` of running the thread is ended and the stage rejects. */
  async run<T> (task: DrainTask, timeoutMs: number): Promise<T> {
    await this.acquire()
    try {
      return await this.pool.run(task, { signal: AbortSignal.timeout(timeoutMs) }) as T
    } finally {
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
