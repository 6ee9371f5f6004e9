/**
 * A shard's batches in flight: each run is launched as a batch on the pipeline (batch-pipeline.ts:
 * up to `drainPipeline` at once, in overlapping stages on the piscina threads) and landed oldest
 * first. When a batch fails, every later one has waited on its stages, so none got past the stage
 * that failed: all of them are queued to run again, in order, before any new run. It also keeps
 * the drain's pace (tickets per second, for the tickets' ETAs), measured between landings.
 *
 * It must never land batches out of order, nor let a new run go ahead of a run waiting to be
 * retried.
 */
import type { BatchPipeline } from './batch-pipeline'
import type { RunItem } from './job-taker'
import type { DrainBatchInput } from '../drain-batch'
import type { FinishedWire } from '../thread-protocol'
import type { Lease } from '../../src/stock'
import type { ShardRef } from '../../src/redis/keys'
import { endSpan, startLinkedSpan, tracingStarted } from '../../src/tracing/spans'
import type { OpenSpan } from '../../src/tracing/spans'

/** A batch launched on the pipeline and not yet landed. */
interface Flight {
  readonly run: readonly RunItem[]
  readonly started: number
  readonly startedAt: number
  readonly finished: Promise<FinishedWire>
  /** The batch's span, linked to its tickets' buys (tracing on and one of them sampled). */
  readonly span: OpenSpan | undefined
}

/** A batch that landed: its run, its result, and when it started (performance.now() and Date.now()). */
interface Landed {
  readonly run: readonly RunItem[]
  readonly result: FinishedWire
  readonly started: number
  readonly startedAt: number
}

export class BatchesInFlight {
  private flights: Flight[] = []
  /** Runs of a failed flight and those behind it, served again in order before any new one. */
  private retry: Array<readonly RunItem[]> = []
  private rate = 0
  private lastLanded = 0

  constructor (
    private readonly pipeline: BatchPipeline,
    private readonly ref: ShardRef,
    private readonly shards: number,
    private readonly lease: Lease
  ) {}

  get count (): number {
    return this.flights.length
  }

  /** Tickets decided per second, as last measured (0 until a batch landed). */
  get currentRate (): number {
    return this.rate
  }

  /** Puts a run taken for launch back at the head of the retry list (the sale is held). */
  putBack (run: readonly RunItem[]): void {
    this.retry.unshift(run)
  }

  /** The oldest run waiting to be retried, taken off the list. */
  nextRetry (): readonly RunItem[] | undefined {
    return this.retry.shift()
  }

  launch (run: readonly RunItem[]): void {
    // Tracing off: no span, and no list of the tickets' trace contexts built for nothing.
    const span = !tracingStarted() ? undefined : startLinkedSpan('drain.batch', {
      'seckill.event_id': this.ref.eventId,
      'seckill.shard': this.ref.shard,
      'seckill.tickets': run.length,
      'seckill.first_position': run[0]?.qpos ?? 0
    }, run.map((r) => r.job?.traceParent ?? ''))
    const input: DrainBatchInput = {
      eventId: this.ref.eventId,
      shard: this.ref.shard,
      shards: this.shards,
      leaseToken: this.lease.token,
      fence: this.lease.fence,
      positions: run.map((r) => r.qpos),
      rate: this.rate,
      ...(span === undefined ? {} : { trace: span.traceParent })
    }
    this.flights.push({ run, started: performance.now(), startedAt: Date.now(), finished: this.pipeline.launch(input), span })
  }

  /** Waits for the oldest batch in flight; on failure queues it and those behind it again, and throws. */
  async land (): Promise<Landed> {
    const flight = this.flights[0] as Flight
    let result: FinishedWire
    try {
      result = await flight.finished
    } catch (err) {
      // Every later batch waits on this one's stages, so none got past the stage that failed.
      await Promise.allSettled(this.flights.map(async (f) => await f.finished))
      for (const f of this.flights) endSpan(f.span, err)
      this.retry = [...this.flights.map((f) => f.run), ...this.retry]
      this.flights = []
      this.pipeline.reset()
      throw err
    }
    this.flights.shift()
    endSpan(flight.span)
    return { run: flight.run, result, started: flight.started, startedAt: flight.startedAt }
  }

  /** Records a landed batch in the drain's pace; returns how long the batch took (ms). */
  pace (landed: Landed): number {
    const now = performance.now()
    const ms = now - landed.started
    // Batches overlap: the pace is the time between landings, or the batch's own time when alone.
    const span = this.lastLanded > landed.started ? now - this.lastLanded : ms
    this.lastLanded = now
    const perSecond = landed.run.length / Math.max(span / 1000, 0.001)
    this.rate = this.rate === 0 ? perSecond : this.rate * 0.7 + perSecond * 0.3
    return ms
  }

  /** When the oldest ticket of a batch in flight or waiting to be retried was admitted (ms). */
  oldestAddedAt (): number | undefined {
    let oldest: number | undefined
    for (const run of [...this.retry, ...this.flights.map((f) => f.run)]) {
      for (const r of run) if (r.job !== undefined) oldest = oldest === undefined ? r.job.addedAt : Math.min(oldest, r.job.addedAt)
    }
    return oldest
  }
}
