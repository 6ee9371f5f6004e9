/**
 * The drain of one event shard, run by the worker that holds the shard's lease. This is its loop;
 * the parts it drives are each in a file of their own:
 *
 * - job-taker.ts: jobs taken from the shard's BullMQ queue in batches (lua/takeJobs), served in
 *   queue-position order, a missing job's position recovered from Redis after `gapGraceMs`;
 * - batches-in-flight.ts: runs launched as batches on the piscina pool, up to `drainPipeline` at
 *   once in overlapping stages (batch-pipeline.ts), landed in order, retried in order on failure;
 * - returns.ts: units that came back, applied between batches;
 * - sibling-hints.ts: what the shard tells its siblings of its free units.
 *
 * This thread only takes, orders and settles jobs; the batches run on the threads. Idle, the drain
 * waits for its doorbell (drain-waker.ts) and sends no Redis command. It must never go on once the
 * lease is lost (any part may find out; the drain then stops and the next owner adopts its jobs),
 * and never launch a batch while the process's breaker is open.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Knex } from 'knex'
import type { Logger } from 'pino'
import type { RedisClient } from '../../src/redis/scripts'
import type { KeySpace, ShardKeys, ShardRef } from '../../src/redis/keys'
import { askSiblingsToClose, closeGateIfSaleEmpty } from '../../src/stock'
import type { Lease } from '../../src/stock'
import type { PlacementState } from '../../src/sale'
import { ticketIdPrefix } from '../../src/shared/ticket-ids'
import type { StagePool } from '../stage-pool'
import type { FinishedWire } from '../thread-protocol'
import type { DrainBreaker } from '../drain-breaker'
import type { Doorbell, DrainWaker } from '../drain-waker'
import { BatchPipeline } from './batch-pipeline'
import { JobTaker } from './job-taker'
import type { RunItem } from './job-taker'
import { BatchesInFlight } from './batches-in-flight'
import { ShardReturns } from './returns'
import { SiblingHints } from './sibling-hints'

interface DrainerSettings {
  readonly drainBatch: number
  readonly drainBatchTimeoutMs: number
  /** Batches in flight at once (1: one after the other). */
  readonly drainPipeline: number
  readonly gapGraceMs: number
  readonly drainIdleWaitMs: number
}

export interface BatchReport {
  readonly ref: ShardRef
  readonly size: number
  readonly recovered: number
  readonly result: FinishedWire
  readonly ms: number
  /** When the batch started and ended, and when its tickets were admitted (those with a job). */
  readonly startedAt: number
  readonly endedAt: number
  readonly admittedAt: readonly number[]
}

interface ShardDrainerDeps {
  readonly redis: RedisClient
  /** MySQL, for the units that came back (unit_returns), applied between batches. */
  readonly db: Knex
  /** Wakes the drain when it is idle: a ticket admitted or units returned (one subscriber per worker). */
  readonly waker: DrainWaker
  readonly keys: KeySpace
  readonly pool: StagePool
  readonly settings: DrainerSettings
  readonly log: Logger
  /** The process's breaker: while it is open no batch is launched (drain-breaker.ts). */
  readonly breaker?: DrainBreaker
  /**
   * Whether an operator holds the sale, from its row in MySQL (the one truth, whichever ingress
   * took the pause) at most a moment old (held-sales.ts: one read for every sale this process
   * drains): asked before a batch is launched. Absent: never held (tests, benches).
   */
  readonly isHeld?: (eventId: number) => Promise<boolean>
  /**
   * A randomized start: the placer of the lead window's buyers at the start (src/sale/allocation/
   * start-placement.ts), stepped between batches until it answers 'placed'; meanwhile only the
   * positions it has placed are decided. Absent: nothing to place.
   */
  readonly placement?: (ref: ShardRef, leaseToken: string) => { step: () => Promise<PlacementState> }
  readonly onBatch?: (report: BatchReport) => void
}

const MAX_BACKOFF_MS = 5000
/** How often a held drain asks again whether the sale may go on. */
const PAUSED_RECHECK_MS = 250
/** How often a working drain records its pace for the next sale's first estimates, and for how long it is kept. */
const PACE_RECORD_MS = 3000
const PACE_KEEP_S = 7 * 86_400

export class ShardDrainer {
  private readonly k: ShardKeys
  private readonly jobs: JobTaker
  private readonly inFlight: BatchesInFlight
  private readonly returns: ShardReturns
  private readonly hints: SiblingHints
  private doorbell: Doorbell | undefined
  /** Since when the drain waits for its doorbell (ms), undefined while it works. */
  private idleSince: number | undefined
  /** The last batch left the shard's own stock empty, and no unit came back since. */
  private ownStockEmpty = false
  private failures = 0
  private paceRecordedAt = 0
  /** The lead window's buyers are placed (or there are none to place): every job may be taken, returns applied. */
  private placed: boolean
  private placer: { step: () => Promise<PlacementState> } | undefined
  private running = false
  private done: Promise<void> | undefined
  /** Resolves when stop() is called, to end a blocking wait at once. */
  private stopped: Promise<void> = Promise.resolve()
  private signalStop: () => void = () => undefined

  constructor (
    readonly ref: ShardRef,
    private readonly shards: number,
    private readonly lease: Lease,
    private readonly deps: ShardDrainerDeps
  ) {
    this.k = deps.keys.shard(ref)
    this.jobs = new JobTaker(deps.redis, this.k, deps.keys.buyQueue(ref), ticketIdPrefix(ref.eventId, ref.shard), lease.token, deps.settings, deps.log)
    this.inFlight = new BatchesInFlight(new BatchPipeline(deps.pool, deps.settings.drainBatchTimeoutMs), ref, shards, lease)
    this.returns = new ShardReturns(deps, ref, shards, lease.token)
    this.hints = new SiblingHints(deps, ref, shards, () => this.running)
    this.placed = deps.placement === undefined
  }

  get isRunning (): boolean {
    return this.running
  }

  /** True while the drain waits for its doorbell (nothing to do, no Redis command). */
  get isIdle (): boolean {
    return this.idleSince !== undefined
  }

  /**
   * Idle for `forMs` at least, with no unit of its own left (its last batch emptied it and none
   * came back since): the dispatcher then renews its lease less often (LEASE_QUIET_MS).
   */
  isQuiet (now: number, forMs: number): boolean {
    return this.idleSince !== undefined && now - this.idleSince >= forMs && this.ownStockEmpty
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.stopped = new Promise((resolve) => { this.signalStop = resolve })
    this.doorbell = this.deps.waker.watch(this.k.wake)
    this.hints.unitsHaveMoved()
    this.done = this.loop()
  }

  /** Stops after the batches in flight; the jobs it holds stay taken for the next owner to adopt. */
  async stop (): Promise<void> {
    this.running = false
    this.hints.stop()
    this.signalStop()
    await this.done
    await this.doorbell?.close()
    await this.jobs.release()
  }

  /** Returns are due here (told by the dispatcher, which looks in MySQL once per round). */
  notifyReturns (): void {
    this.returns.notify()
  }

  /** When the oldest ticket waiting here was admitted (ms), for the lag gauge. */
  oldestWaitingSince (): number | undefined {
    const taken = this.jobs.oldestAddedAt()
    const flying = this.inFlight.oldestAddedAt()
    return taken === undefined ? flying : flying === undefined ? taken : Math.min(taken, flying)
  }

  private async loop (): Promise<void> {
    // Subscribed before the first look for work: a ticket admitted after that look rings.
    await this.doorbell?.ready
    await this.jobs.startAfterDrained()
    while (this.running) {
      try {
        if (this.deps.breaker !== undefined && this.deps.breaker.current !== 'closed') {
          // Redis or MySQL failing: the batches in flight land (or fail), then nothing new is
          // launched until the breaker's probe finds both answering.
          if (this.inFlight.count > 0) await this.land()
          else await Promise.race([this.deps.breaker.whenClosed(), this.stopped])
          continue
        }
        // Until the lead window's buyers are all placed, a placement step comes first in every
        // turn; once some are placed, the turn goes on to decide them, and to apply the units
        // that come back meanwhile (held until the end, they would pass the entrants decided
        // sold_out in between, as a first-come return passes only the batches in flight).
        if (!this.placed && !await this.place()) continue
        // A sibling closed its gate: this owner closes its own if the sale is empty (once its
        // entrants are all placed: the request waits until then).
        if (this.placed && this.doorbell?.takeSoldOutCheck() === true) await this.closeIfSaleEmpty()
        if (await this.returns.pending(this.doorbell)) {
          // Between batches only: land every batch in flight first, so the new epoch starts
          // after the last position decided and no reservation made before the return is in use.
          if (this.inFlight.count > 0) await this.land()
          else await this.applyReturns()
          continue
        }
        const run = this.inFlight.count < this.deps.settings.drainPipeline ? this.inFlight.nextRetry() ?? await this.nextRun() : undefined
        if (run !== undefined && await this.isHeld()) {
          // Held by an operator: the run waits, first in line, and nothing new is decided; the
          // batches already in flight land.
          this.inFlight.putBack(run)
          if (this.inFlight.count > 0) await this.land()
          else await Promise.race([sleep(PAUSED_RECHECK_MS), this.stopped])
          continue
        }
        if (run !== undefined) this.inFlight.launch(run)
        else if (this.inFlight.count > 0) await this.land()
        this.failures = 0
      } catch (err) {
        if (!this.running) break
        this.deps.breaker?.failure(err)
        this.failures++
        const wait = Math.min(MAX_BACKOFF_MS, 50 * 2 ** Math.min(this.failures, 7))
        this.deps.log.error({ err, shard: this.k.tag, retryInMs: wait }, 'drain batch failed; retrying')
        await sleep(wait)
      }
    }
    // Stopping: let the batches in flight end (their outcomes are written either way).
    while (this.inFlight.count > 0) await this.land().catch(() => undefined)
  }

  /**
   * A step of a randomized start's placement. Before the start it waits for the start (MySQL's
   * clock, asked again when the time comes) or for the doorbell (a buy after the start sealed the
   * entry list), sending nothing meanwhile. Returns whether positions may be decided: all once the
   * placement is done; while it runs, those placed so far (the job taker goes no further: the
   * positions beyond have no ticket yet, and must not be taken for lost jobs).
   */
  private async place (): Promise<boolean> {
    const mark = this.doorbell?.mark() ?? 0
    this.placer ??= (this.deps.placement as NonNullable<ShardDrainerDeps['placement']>)(this.ref, this.lease.token)
    const state = await this.placer.step()
    if (state.kind === 'lease_lost') {
      this.leaseLost()
      return false
    }
    if (state.kind === 'placed') {
      this.placed = true
      this.placer = undefined
      this.jobs.limitTo(undefined)
      if (state.count > 0) this.deps.log.info({ shard: this.k.tag, placed: state.count, from: state.base + 1, ms: state.ms }, 'lead window buyers placed in drawn order')
      // The close held back while placing (the last batch may have emptied the shard), unless a
      // unit came back meanwhile: it is applied first, and a later batch closes if need be.
      if (this.ownStockEmpty && !await this.returns.pending(this.doorbell)) await this.closeIfSaleEmpty()
      return true
    }
    if (state.kind === 'placing') {
      this.jobs.limitTo(state.base + state.placed)
      return true
    }
    this.idleSince ??= Date.now()
    await this.doorbell?.wait(mark, Math.max(1, Math.min(state.inMs, this.deps.settings.drainIdleWaitMs)), this.stopped)
    this.idleSince = undefined
    return false
  }

  /** The next contiguous run to serve, or undefined when there is none yet. */
  private async nextRun (): Promise<RunItem[] | undefined> {
    // Idle again only if this look finds nothing (then since the first of such looks).
    const idleSince = this.idleSince
    this.idleSince = undefined
    const mark = this.doorbell?.mark() ?? 0
    const took = await this.jobs.fill()
    if (took === 'lease_lost') this.leaseLost()
    else if (took > 0) this.hints.unitsHaveMoved()
    if (!this.running) return undefined
    // Only full batches overlap. A partial one waits for the batches in flight to land, and
    // gathers the tickets that arrive meanwhile: under a steady crowd each batch carries what came
    // during the last one, instead of a few tickets paying a whole batch's fixed cost.
    if (this.inFlight.count > 0 && this.jobs.readyCount() < this.deps.settings.drainBatch) return undefined
    const run = this.jobs.takeRun()
    if (run.length > 0) return run
    const missing = await this.jobs.missing()
    if (missing === 'none') {
      // Nothing admitted is undecided: wait for the doorbell (the next admission rings it),
      // unless batches in flight need landing or entrants are still to be placed.
      if (this.inFlight.count > 0 || !this.placed) return undefined
      if (took === 0 && this.jobs.buffered === 0) await this.waitForJobs(mark, idleSince ?? Date.now())
      else await sleep(5)
      return undefined
    }
    if (missing === 'grace') {
      if (this.inFlight.count === 0) await sleep(Math.min(20, this.deps.settings.gapGraceMs))
      return undefined
    }
    return missing
  }

  /**
   * Waits until the doorbell rings after `mark` (a ticket admitted, units returned),
   * DRAIN_IDLE_WAIT_MS pass, or the drain stops. No Redis command while it waits.
   */
  private async waitForJobs (mark: number, idleSince: number): Promise<void> {
    this.idleSince = idleSince
    // A return waiting for its ticket (maybe a sibling's) is looked at again on time, not after the idle wait.
    const retryIn = this.returns.msToRetry()
    await this.doorbell?.wait(mark, Math.min(this.deps.settings.drainIdleWaitMs, retryIn), this.stopped)
    if (this.doorbell === undefined || this.doorbell.mark() !== mark) this.idleSince = undefined
  }

  /** Lands the oldest batch in flight and records it; on failure it and those behind it go round again. */
  private async land (): Promise<void> {
    const landed = await this.inFlight.land()
    this.deps.breaker?.success()
    this.returns.landed()
    const { run, result } = landed
    if (result.leaseLost) {
      this.leaseLost()
      return
    }
    this.jobs.settle(run)
    const ms = this.inFlight.pace(landed)
    this.recordPace()
    this.hints.unitsHaveMoved()
    this.ownStockEmpty = result.stock === 0
    await this.hints.recordSeen(result.siblingsFree)
    // Checked after every batch that leaves the shard empty: units may come back and go again.
    // Never while entrants are still to be placed: a closed gate lets an ingress record a buyer
    // as turned away (lua/confirmSoldOut), and an entrant not yet placed who asks again would be
    // one, and then refused by their own chunk (lua/placeEntrants), stopping the placement.
    if (result.stock === 0 && this.placed) await this.closeIfSaleEmpty()
    this.deps.onBatch?.({
      ref: this.ref,
      size: run.length,
      recovered: run.filter((r) => r.job === undefined).length,
      result,
      ms,
      startedAt: landed.startedAt,
      endedAt: Date.now(),
      admittedAt: run.flatMap((r) => r.job === undefined ? [] : [r.job.addedAt])
    })
  }

  /** Whether the sale is held (deps.isHeld: a shared answer at most a moment old). */
  private async isHeld (): Promise<boolean> {
    return this.deps.isHeld === undefined ? false : await this.deps.isHeld(this.ref.eventId)
  }

  /**
   * Keeps the drain's pace where every ingress reads it (Redis drain-pace, a week): the first wait
   * a buyer of the next sale is shown comes from a measured pace, not a guess. At most every few
   * seconds, never awaited.
   */
  private recordPace (): void {
    const now = Date.now()
    const rate = this.inFlight.currentRate
    if (now - this.paceRecordedAt < PACE_RECORD_MS || !(rate > 0)) return
    this.paceRecordedAt = now
    this.deps.redis.set(this.deps.keys.drainPace, rate.toFixed(2), 'EX', PACE_KEEP_S).catch(() => undefined)
  }

  /** Applies the units that came back to this shard; called with no batch in flight. */
  private async applyReturns (): Promise<void> {
    const returned = await this.returns.apply()
    if (returned === 'lease_lost') this.leaseLost()
    else if (returned > 0) this.ownStockEmpty = false
  }

  /**
   * Closes this shard's own gate when the whole sale is empty, and asks the siblings to look too
   * (their owners close their own gates); whoever closes the last one announces the sell-out.
   */
  private async closeIfSaleEmpty (): Promise<void> {
    const { look, closedHere } = await closeGateIfSaleEmpty(this.deps, { id: this.ref.eventId, shards: this.shards }, this.ref, this.lease.token)
    if (look === 'lease_lost') {
      this.leaseLost()
      return
    }
    if (closedHere && this.shards > 1) await askSiblingsToClose(this.deps, this.ref, this.shards)
  }

  /** Another worker owns the shard now: this drain stops (its jobs are adopted by the new owner). */
  private leaseLost (): void {
    this.running = false
    this.deps.log.warn({ shard: this.k.tag }, 'shard lease lost; drain stopped')
  }
}
