/**
 * Runs a shard's drain batches as three tasks each on the piscina pool -- reserve, write, finish
 * (see drain-batch.ts) -- so that consecutive batches overlap: while batch k writes its orders to
 * MySQL, batch k+1 reserves in Redis; while k writes its outcomes, k+1 writes its orders.
 *
 * Each stage of a batch starts only once the same stage of the batch before it has succeeded, so
 * units are reserved, orders written and outcomes published in FIFO order. When a stage fails,
 * the same stage of every later batch fails with it (none runs ahead of a batch that has to be
 * retried); the drainer then retries them all, in order, on a fresh chain.
 */
import { LEASE_LOST } from '../drain-batch'
import type { DrainBatchInput } from '../drain-batch'
import { toFinishedWire } from '../thread-protocol'
import type { FinishedWire, ReservationWire, WrittenWire } from '../thread-protocol'
import type { StagePool } from '../stage-pool'

interface Stages {
  readonly reserved: Promise<ReservationWire>
  readonly written: Promise<WrittenWire>
  readonly finished: Promise<FinishedWire>
}

const NOTHING_FINISHED: FinishedWire = toFinishedWire(LEASE_LOST)
const NOTHING_WRITTEN: WrittenWire = { leaseLost: true, writeMs: 0, qpos: new Int32Array(0), kind: new Uint8Array(0), detail: [], heldAt: new Int32Array(0) }

export class BatchPipeline {
  private last: Stages | undefined

  /** `stageTimeoutMs`: a hung thread is ended past it (the stage rejects, the batch is retried). */
  constructor (private readonly pool: StagePool, private readonly stageTimeoutMs: number) {}

  /** Starts a batch behind the ones already launched; resolves when its outcomes are written. */
  launch (input: DrainBatchInput): Promise<FinishedWire> {
    const prev = this.last
    const reserved = (async () => {
      await prev?.reserved
      return await this.pool.stage<ReservationWire>({ stage: 'reserve', input }, this.stageTimeoutMs)
    })()
    const written = (async () => {
      const reservation = await reserved
      await prev?.written
      // Written with whatever other shards have ready at the same time (one transaction).
      return reservation.leaseLost ? NOTHING_WRITTEN : await this.pool.stage<WrittenWire>({ stage: 'write', input, reservation }, this.stageTimeoutMs)
    })()
    const finished = (async () => {
      const reservation = await reserved
      const w = await written
      await prev?.finished
      return reservation.leaseLost || w.leaseLost ? NOTHING_FINISHED : await this.pool.stage<FinishedWire>({ stage: 'finish', input, reservation, written: w }, this.stageTimeoutMs)
    })()
    // Marked handled now: the caller awaits `finished` later, the other two only gate later batches.
    for (const stage of [reserved, written, finished]) stage.catch(() => undefined)
    this.last = { reserved, written, finished }
    return finished
  }

  /** Starts a new chain; call only once every launched batch has settled. */
  reset (): void {
    this.last = undefined
  }
}
