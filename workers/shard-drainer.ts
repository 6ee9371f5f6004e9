/**
 * The drain of one event shard, run by the worker that holds the shard's lease.
 *
 * Jobs come from the shard's BullMQ queue, taken and settled in batches by one script call
 * (lua/takeJobs), so a backlog costs a few Redis commands per ticket rather than BullMQ's
 * fetch-lock-complete round trips for each job. The shard lease says who may hold the jobs; a new
 * owner adopts the ones its predecessor had taken.
 *
 * The order of service is the tickets' queue positions. Admission adds a ticket's job in the same
 * script that hands out its position, so jobs arrive in position order; the drainer still keeps
 * the jobs it took in a small buffer and serves only the contiguous run that starts at the next
 * undecided position. A position that was admitted but whose job does not arrive within
 * `gapGraceMs` (removed with a BullMQ tool) is served from the ticket stored in Redis. So every
 * admitted ticket is served, once, in FIFO order. A job is deleted only once its ticket's outcome
 * is written.
 *
 * Batches run on the piscina pool, up to `drainPipeline` of them at once in overlapping stages
 * (batch-pipeline.ts); this thread only takes, orders and settles jobs.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { RedisClient } from '../src/redis/scripts'
import type { Logger } from 'pino'
import type { StagePool } from './stage-pool'
import type { BuyQueueKeys, KeySpace, ShardKeys, ShardRef } from '../src/redis/keys'
import { takeJobs } from '../src/redis/commands'
import type { TakenJob } from '../src/redis/commands'
import { declareSoldOutIfEmpty, shareFreeUnits } from '../src/domain/sale-state'
import { applyDueReturns } from './return-applier'
import { ticketIdPrefix } from '../src/domain/tickets'
import type { Knex } from 'knex'
import type { DrainBatchInput } from './drain-batch'
import type { FinishedWire } from './stage-wire'
import { BatchPipeline } from './batch-pipeline'
import type { DrainBreaker } from './drain-breaker'
import type { Doorbell, DrainWaker } from './drain-waker'
import type { Lease } from '../src/domain/shard-lease'
import { endSpan, startLinkedSpan, tracingStarted } from '../src/tracing/spans'
import type { OpenSpan } from '../src/tracing/spans'

export interface DrainerSettings {
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

export interface ShardDrainerDeps {
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
  readonly onBatch?: (report: BatchReport) => void
}

interface RunItem {
  readonly qpos: number
  /** Undefined for a ticket served without its job (recovered from Redis). */
  readonly job: TakenJob | undefined
}

/** A batch launched on the pipeline and not yet landed. */
interface Flight {
  readonly run: readonly RunItem[]
  readonly started: number
  readonly startedAt: number
  readonly finished: Promise<FinishedWire>
  /** The batch's span, linked to its tickets' buys (tracing on and one of them sampled). */
  readonly span: OpenSpan | undefined
}

const MAX_BACKOFF_MS = 5000
/**
 * How often a busy loop looks at the shard's returns signal in Redis (an EXISTS). Returns ring the
 * shard's doorbell, which the loop reads between batches for free, and after the doorbell's
 * subscriber reconnects the loop looks at once; this look only covers a ring lost otherwise. At
 * 50 ms it was the worker's most frequent Redis command in the many-drops crowd (bench:many, 50
 * sales: 4 EXISTS per admitted buy, about 2,000 a second from the main thread).
 */
const RETURNS_CHECK_MS = 1000
/** How soon a return whose ticket was still undecided is looked at again. */
const RETURNS_RETRY_MS = 200
/** How often a multi-shard drain tells its siblings how many units it could lend. */
const FREE_HINT_MS = 50

export class ShardDrainer {
  private readonly k: ShardKeys
  private readonly q: BuyQueueKeys
  private readonly idPrefix: string
  private doorbell: Doorbell | undefined
  /** Since when the drain waits for its doorbell (ms), undefined while it works. */
  private idleSince: number | undefined
  /** The last batch left the shard's own stock empty, and no unit came back since. */
  private ownStockEmpty = false
  private readonly buffer = new Map<number, TakenJob>()
  /** Jobs whose tickets are decided: deleted by the next take. */
  private settled: string[] = []
  private adopted = false
  private readonly pipeline: BatchPipeline
  private flights: Flight[] = []
  /** Runs of a failed flight and those behind it, served again in order before any new one. */
  private retry: Array<readonly RunItem[]> = []
  /** Next queue position to put in a run (those before it are decided or in flight). */
  private next = 1
  private lastLanded = 0
  private gapSince: number | undefined
  private rate = 0
  private failures = 0
  private running = false
  private done: Promise<void> | undefined
  private hintTimer: NodeJS.Timeout | undefined
  /** Units came back (unit_returns) or a sibling reopened: apply between batches. */
  private returnsDue = false
  private returnsCheckedAt = 0
  /** A return waits for its ticket's batch: looked at again from this time (ms), or after a landing. */
  private returnsRetryAt: number | undefined
  private hinting = false
  /** Stock or pending may have moved since the last hint (jobs taken, a batch landed). */
  private unitsMoved = true
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
    this.q = deps.keys.buyQueue(ref)
    this.idPrefix = ticketIdPrefix(ref.eventId, ref.shard)
    this.pipeline = new BatchPipeline(deps.pool, deps.settings.drainBatchTimeoutMs)
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
    this.unitsHaveMoved()
    this.done = this.loop()
  }

  /** Stops after the batches in flight; the jobs it holds stay taken for the next owner to adopt. */
  async stop (): Promise<void> {
    this.running = false
    clearTimeout(this.hintTimer)
    this.hintTimer = undefined
    this.signalStop()
    await this.done
    await this.doorbell?.close()
    if (this.settled.length > 0) {
      // Best effort: a job left behind is found decided by the next owner and deleted then.
      await takeJobs(this.deps.redis, this.k, this.q, this.lease.token, 0, false, this.settled).catch(() => undefined)
      this.settled = []
    }
    this.buffer.clear()
  }

  private async loop (): Promise<void> {
    // Subscribed before the first look for work: a ticket admitted after that look rings.
    await this.doorbell?.ready
    this.next = Number(await this.deps.redis.get(this.k.drained) ?? '0') + 1
    while (this.running) {
      try {
        if (this.deps.breaker !== undefined && this.deps.breaker.current !== 'closed') {
          // Redis or MySQL failing: the batches in flight land (or fail), then nothing new is
          // launched until the breaker's probe finds both answering.
          if (this.flights.length > 0) await this.land()
          else await Promise.race([this.deps.breaker.whenClosed(), this.stopped])
          continue
        }
        if (await this.returnsPending()) {
          // Between batches only: land every batch in flight first, so the new epoch starts
          // after the last position decided and no reservation made before the return is in use.
          if (this.flights.length > 0) await this.land()
          else await this.applyReturns()
          continue
        }
        const run = this.flights.length < this.deps.settings.drainPipeline ? this.retry.shift() ?? await this.nextRun() : undefined
        if (run !== undefined) this.launch(run)
        else if (this.flights.length > 0) await this.land()
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
    while (this.flights.length > 0) await this.land().catch(() => undefined)
  }

  /** The next contiguous run to serve, or undefined when there is none yet. */
  private async nextRun (): Promise<RunItem[] | undefined> {
    // Idle again only if this look finds nothing (then since the first of such looks).
    const idleSince = this.idleSince
    this.idleSince = undefined
    const mark = this.doorbell?.mark() ?? 0
    const took = await this.fill()
    if (took > 0) this.unitsHaveMoved()
    if (!this.running) return undefined
    // Only full batches overlap. A partial one waits for the batches in flight to land, and
    // gathers the tickets that arrive meanwhile: under a steady crowd each batch carries what came
    // during the last one, instead of a few tickets paying a whole batch's fixed cost.
    if (this.flights.length > 0 && this.readyCount() < this.deps.settings.drainBatch) return undefined
    const run = this.takeRun()
    if (run.length > 0) {
      this.gapSince = undefined
      return run
    }
    const qseq = Number(await this.deps.redis.get(this.k.qseq) ?? '0')
    if (qseq < this.next) {
      this.gapSince = undefined
      // Nothing admitted is undecided: wait for the doorbell (the next admission rings it),
      // unless batches in flight need landing.
      if (this.flights.length > 0) return undefined
      if (took === 0 && this.buffer.size === 0) await this.waitForJobs(mark, idleSince ?? Date.now())
      else await sleep(5)
      return undefined
    }
    // Positions up to qseq were admitted; the job for `next` has not come.
    this.gapSince ??= Date.now()
    if (Date.now() - this.gapSince < this.deps.settings.gapGraceMs) {
      if (this.flights.length === 0) await sleep(Math.min(20, this.deps.settings.gapGraceMs))
      return undefined
    }
    return this.recover(qseq)
  }

  /**
   * Waits until the doorbell rings after `mark` (a ticket admitted, units returned),
   * DRAIN_IDLE_WAIT_MS pass, or the drain stops. No Redis command while it waits.
   */
  private async waitForJobs (mark: number, idleSince: number): Promise<void> {
    this.idleSince = idleSince
    // A return waiting for its ticket (maybe a sibling's) is looked at again on time, not after the idle wait.
    const retryIn = this.returnsRetryAt === undefined ? Number.POSITIVE_INFINITY : Math.max(0, this.returnsRetryAt - Date.now())
    await this.doorbell?.wait(mark, Math.min(this.deps.settings.drainIdleWaitMs, retryIn), this.stopped)
    if (this.doorbell === undefined || this.doorbell.mark() !== mark) this.idleSince = undefined
  }

  /** Settles decided jobs and takes more, a batch beyond those the pipeline can hold; returns how many came. */
  private async fill (): Promise<number> {
    // A batch at most per call: the first batch of a backlog starts after one batch's take, not
    // after the whole pipeline's (bench:drain, the 4,000 jobs of a first take took about 20 ms).
    const want = Math.max(0, Math.min(this.deps.settings.drainBatch, (this.deps.settings.drainPipeline + 1) * this.deps.settings.drainBatch - this.buffer.size))
    if (want === 0 && this.settled.length === 0 && this.adopted) return 0
    const reply = await takeJobs(this.deps.redis, this.k, this.q, this.lease.token, want, !this.adopted, this.settled)
    if (reply.leaseLost) {
      this.running = false
      this.deps.log.warn({ shard: this.k.tag }, 'shard lease lost; drain stopped')
      return 0
    }
    this.settled = []
    this.adopted = true
    for (const job of reply.jobs) this.accept(job)
    return reply.jobs.length
  }

  private accept (job: TakenJob): void {
    const qpos = job.id.startsWith(this.idPrefix) ? Number(job.id.slice(this.idPrefix.length)) : NaN
    if (this.buffer.get(qpos)?.id === job.id) return
    if (!Number.isSafeInteger(qpos) || qpos < this.next || this.buffer.has(qpos)) {
      // Decided already (its ticket was served without the job), or not a ticket of this shard.
      this.settled.push(job.id)
      return
    }
    this.buffer.set(qpos, job)
  }

  /** Contiguous positions from `next` whose jobs are here, up to a batch. */
  private readyCount (): number {
    let n = 0
    while (n < this.deps.settings.drainBatch && this.buffer.has(this.next + n)) n++
    return n
  }

  private takeRun (): RunItem[] {
    const run: RunItem[] = []
    let q = this.next
    while (run.length < this.deps.settings.drainBatch) {
      const job = this.buffer.get(q)
      if (job === undefined) break
      this.buffer.delete(q)
      run.push({ qpos: q, job })
      q++
    }
    this.next = q
    return run
  }

  /** Serves admitted positions whose jobs are missing, from the tickets stored in Redis. */
  private recover (qseq: number): RunItem[] | undefined {
    const run: RunItem[] = []
    for (let q = this.next; q <= qseq && run.length < this.deps.settings.drainBatch && !this.buffer.has(q); q++) run.push({ qpos: q, job: undefined })
    if (run.length === 0) return undefined
    this.next += run.length
    this.deps.log.warn({ shard: this.k.tag, from: run[0]?.qpos, count: run.length }, 'recovered admitted tickets whose jobs were missing')
    this.gapSince = undefined
    return run
  }

  /** Returns are due here (told by the dispatcher, which looks in MySQL once per round). */
  notifyReturns (): void {
    this.returnsDue = true
  }

  private async returnsPending (): Promise<boolean> {
    if (this.doorbell?.takeReturns() === true) this.returnsDue = true
    if (this.returnsDue) return true
    if (this.doorbell?.takeMissed() === true) this.returnsCheckedAt = 0
    const now = Date.now()
    if (this.returnsRetryAt !== undefined && now >= this.returnsRetryAt) {
      this.returnsRetryAt = undefined
      this.returnsDue = true
      return true
    }
    if (now - this.returnsCheckedAt < RETURNS_CHECK_MS) return false
    this.returnsCheckedAt = now
    this.returnsDue = await this.deps.redis.exists(this.k.returnsDue) === 1
    return this.returnsDue
  }

  /** Applies the units that came back to this shard; called with no batch in flight. */
  private async applyReturns (): Promise<void> {
    this.returnsDue = false
    // When a unit came back, the applier has told the siblings already (no hint needed here).
    const outcome = await applyDueReturns(this.deps, this.ref, this.shards, this.lease.token)
    if (outcome.leaseLost) {
      this.running = false
      this.deps.log.warn({ shard: this.k.tag }, 'shard lease lost; drain stopped')
      return
    }
    // Looked at again after the next landing, or soon (the ticket may be a sibling's); the
    // drain goes on meanwhile, since the batch that decides the ticket may be this shard's.
    if (outcome.waiting > 0) this.returnsRetryAt = Date.now() + RETURNS_RETRY_MS
    if (outcome.returned > 0) {
      this.ownStockEmpty = false
      this.deps.log.info({ shard: this.k.tag, returned: outcome.returned }, 'units came back to the sale')
    }
  }

  /** When the oldest ticket waiting here was admitted (ms), for the lag gauge. */
  oldestWaitingSince (): number | undefined {
    let oldest: number | undefined
    for (const job of this.buffer.values()) oldest = oldest === undefined ? job.addedAt : Math.min(oldest, job.addedAt)
    for (const run of [...this.retry, ...this.flights.map((f) => f.run)]) {
      for (const r of run) if (r.job !== undefined) oldest = oldest === undefined ? r.job.addedAt : Math.min(oldest, r.job.addedAt)
    }
    return oldest
  }

  private launch (run: readonly RunItem[]): void {
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

  /** Waits for the oldest batch in flight and records it; on failure queues it and those behind it again. */
  private async land (): Promise<void> {
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
    this.deps.breaker?.success()
    if (this.returnsRetryAt !== undefined) this.returnsRetryAt = 0
    if (result.leaseLost) {
      this.running = false
      this.deps.log.warn({ shard: this.k.tag }, 'shard lease lost; drain stopped')
      return
    }
    const { run } = flight
    for (const r of run) if (r.job !== undefined) this.settled.push(r.job.id)
    const now = performance.now()
    const ms = now - flight.started
    // Batches overlap: the pace is the time between landings, or the batch's own time when alone.
    const span = this.lastLanded > flight.started ? now - this.lastLanded : ms
    this.lastLanded = now
    const perSecond = run.length / Math.max(span / 1000, 0.001)
    this.rate = this.rate === 0 ? perSecond : this.rate * 0.7 + perSecond * 0.3
    this.unitsHaveMoved()
    this.ownStockEmpty = result.stock === 0
    await this.recordSiblingsFree(result)
    // Checked after every batch that leaves the shard empty: units may come back and go again.
    if (result.stock === 0) await declareSoldOutIfEmpty(this.deps, { id: this.ref.eventId, shards: this.shards })
    this.deps.onBatch?.({
      ref: this.ref,
      size: run.length,
      recovered: run.filter((r) => r.job === undefined).length,
      result,
      ms,
      startedAt: flight.startedAt,
      endedAt: Date.now(),
      admittedAt: run.flatMap((r) => r.job === undefined ? [] : [r.job.addedAt])
    })
  }

  /**
   * Tells sibling shards how many units this shard could lend (stock − pending, read now). Their
   * gates count these to admit buyers that borrowing can serve. The free units of a shard only
   * shrink (bar a unit given back), so a value read earlier overstates them: a gate may admit a
   * few buyers too many (they lose in FIFO order) but never turns buyers away too early. Every
   * FREE_HINT_MS at most, so gates do not over-admit for long while a batch is slow -- and only
   * when something moved since the last hint: an idle or sold-out shard has no timer at all.
   */
  private async shareFreeUnits (): Promise<void> {
    if (this.hinting || !this.running || !this.unitsMoved) return
    this.unitsMoved = false
    this.hinting = true
    try {
      await shareFreeUnits(this.deps, { id: this.ref.eventId, shards: this.shards }, this.ref.shard)
    } catch (err) {
      this.unitsMoved = true
      this.deps.log.warn({ err, shard: this.k.tag }, 'sharing free units failed')
    } finally {
      this.hinting = false
      // Moved again meanwhile (or the hint failed): one more, after the interval.
      if (this.unitsMoved) this.armHint()
    }
  }

  /** Stock or pending may have moved: siblings hear of it within FREE_HINT_MS. */
  private unitsHaveMoved (): void {
    this.unitsMoved = true
    this.armHint()
  }

  private armHint (): void {
    if (this.shards <= 1 || !this.running || this.hintTimer !== undefined) return
    this.hintTimer = setTimeout(() => {
      this.hintTimer = undefined
      void this.shareFreeUnits()
    }, FREE_HINT_MS)
  }

  /** Records the free units a batch saw at siblings while borrowing (fresher than their hints). */
  private async recordSiblingsFree (result: FinishedWire): Promise<void> {
    await Promise.all(result.siblingsFree.map(async ([s, f]) => await this.deps.redis.hset(this.k.peers, String(s), f)))
  }
}
