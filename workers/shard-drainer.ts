/**
 * The drain of one event shard, run by the worker that holds the shard's lease.
 *
 * Jobs come from the shard's BullMQ queue, but the order of service is the tickets' queue
 * positions, not the order jobs reached Redis: two buyers admitted 1 and 2 may have their jobs
 * added 2 then 1. The drainer keeps the jobs it fetched in a small buffer and serves only the
 * contiguous run that starts at the next undecided position. A position that was admitted but
 * whose job does not arrive within `gapGraceMs` (its ingress died between admission and enqueue,
 * or a dead former owner still holds its lock) is recovered from the ticket stored in Redis. So
 * every admitted ticket is served, once, in FIFO order.
 *
 * Batches run on the piscina pool; this thread only fetches, orders and completes jobs, so BullMQ
 * lock renewal never starves.
 */
import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Worker } from 'bullmq'
import type { Job } from 'bullmq'
import type { RedisClient } from '../src/redis/scripts'
import type { Logger } from 'pino'
import type Piscina from 'piscina'
import { QUEUE_NAME } from '../src/redis/keys'
import type { KeySpace, ShardKeys, ShardRef } from '../src/redis/keys'
import type { BuyJobData } from '../src/queue/shard-queues'
import { declareSoldOutIfEmpty } from '../src/domain/sale-state'
import { parseStoredTicket } from '../src/domain/tickets'
import type { DrainBatchInput, DrainBatchResult } from './drain-batch'

export interface DrainerSettings {
  readonly drainBatch: number
  readonly drainBatchTimeoutMs: number
  readonly jobLockMs: number
  readonly gapGraceMs: number
}

export interface BatchReport {
  readonly ref: ShardRef
  readonly size: number
  readonly recovered: number
  readonly result: DrainBatchResult
  readonly ms: number
  /** When the batch started and ended, and when its tickets were admitted (those with a job). */
  readonly startedAt: number
  readonly endedAt: number
  readonly admittedAt: readonly number[]
}

export interface ShardDrainerDeps {
  readonly redis: RedisClient
  /** Connection for BullMQ (maxRetriesPerRequest null); BullMQ duplicates it for blocking. */
  readonly bullConnection: RedisClient
  readonly keys: KeySpace
  readonly pool: Piscina
  readonly settings: DrainerSettings
  readonly log: Logger
  readonly onBatch?: (report: BatchReport) => void
}

interface RunItem {
  readonly qpos: number
  readonly userId: string
  readonly job: Job<BuyJobData> | undefined
}

/**
 * A BullMQ worker whose completions also hand out the next job, in the same script call (what
 * BullMQ's own processing loop does). Completing a batch thus refills the buffer, and a backlog
 * costs one script call per ticket instead of two.
 */
class DrainWorker extends Worker<BuyJobData> {
  async completeAndFetch (job: Job<BuyJobData>, token: string): Promise<Job<BuyJobData> | undefined> {
    const next = await job.moveToCompleted('served', token, this.isRunningDrain) as unknown[] | undefined
    if (!Array.isArray(next) || next[0] == null) return undefined
    return await this.nextJobFromJobData(next[0] as Parameters<Worker['nextJobFromJobData']>[0], next[1] as string, token)
  }

  /** Cleared on stop, so a stopping drain takes no more jobs. */
  isRunningDrain = true
}

/** Parallel job fetches per round while filling a batch. */
const FETCH_ROUND = 64
const MAX_BACKOFF_MS = 5000
/** How often a multi-shard drain tells its siblings how many units it could lend. */
const FREE_HINT_MS = 50
const STALLED_CHECK_MS = 1000

export class ShardDrainer {
  private readonly k: ShardKeys
  private readonly lockToken = randomUUID()
  private worker: DrainWorker | undefined
  private readonly buffer = new Map<number, Job<BuyJobData>>()
  private retry: RunItem[] | undefined
  private next = 1
  private gapSince: number | undefined
  private rate = 0
  private failures = 0
  private running = false
  private done: Promise<void> | undefined
  private lockTimer: NodeJS.Timeout | undefined
  private hintTimer: NodeJS.Timeout | undefined
  private hinting = false

  constructor (
    readonly ref: ShardRef,
    private readonly shards: number,
    private readonly leaseToken: string,
    private readonly deps: ShardDrainerDeps
  ) {
    this.k = deps.keys.shard(ref)
  }

  get isRunning (): boolean {
    return this.running
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.worker = new DrainWorker(QUEUE_NAME, null, {
      connection: this.deps.bullConnection,
      prefix: this.deps.keys.queuePrefix(this.ref),
      autorun: false,
      lockDuration: this.deps.settings.jobLockMs,
      // Jobs whose lock ran out (a dead owner's) go back to the queue. Checked every second: cheap,
      // and BullMQ can arm one more interval when closed mid-check, which then holds the process.
      stalledInterval: STALLED_CHECK_MS,
      drainDelay: 1
    })
    this.worker.on('error', (err) => this.deps.log.warn({ err, shard: this.k.tag }, 'bullmq worker error'))
    this.worker.startStalledCheckTimer().catch((err: unknown) => {
      // Fails only when the worker closes while starting (its connection is already gone).
      if (this.running) this.deps.log.warn({ err, shard: this.k.tag }, 'stalled-job check did not start')
    })
    this.lockTimer = setInterval(() => { void this.extendLocks() }, Math.max(500, Math.floor(this.deps.settings.jobLockMs / 3)))
    if (this.shards > 1) this.hintTimer = setInterval(() => { void this.shareFreeUnits() }, FREE_HINT_MS)
    this.done = this.loop()
  }

  /** Stops after the batch in flight; the jobs it holds go back to the queue when their locks end. */
  async stop (): Promise<void> {
    this.running = false
    if (this.worker !== undefined) this.worker.isRunningDrain = false
    clearInterval(this.lockTimer)
    clearInterval(this.hintTimer)
    await this.done
    await this.worker?.close(true).catch(() => undefined)
    this.buffer.clear()
  }

  private async loop (): Promise<void> {
    this.next = Number(await this.deps.redis.get(this.k.drained) ?? '0') + 1
    while (this.running) {
      try {
        const run = this.retry ?? await this.nextRun()
        if (run === undefined) continue
        this.retry = run
        await this.process(run)
        this.retry = undefined
        this.failures = 0
      } catch (err) {
        this.failures++
        const wait = Math.min(MAX_BACKOFF_MS, 50 * 2 ** Math.min(this.failures, 7))
        this.deps.log.error({ err, shard: this.k.tag, retryInMs: wait }, 'drain batch failed; retrying')
        await sleep(wait)
      }
    }
  }

  /** The next contiguous run to serve, or undefined when there is none yet. */
  private async nextRun (): Promise<RunItem[] | undefined> {
    await this.fill()
    const run = this.takeRun()
    if (run.length > 0) {
      this.gapSince = undefined
      return run
    }
    const qseq = Number(await this.deps.redis.get(this.k.qseq) ?? '0')
    if (qseq < this.next) {
      this.gapSince = undefined
      if (this.buffer.size > 0) await sleep(5)
      return undefined
    }
    // Positions up to qseq were admitted; the job for `next` has not come.
    this.gapSince ??= Date.now()
    if (Date.now() - this.gapSince < this.deps.settings.gapGraceMs) {
      await sleep(Math.min(20, this.deps.settings.gapGraceMs))
      return undefined
    }
    return await this.recover(qseq)
  }

  private async fill (): Promise<void> {
    const worker = this.worker
    if (worker === undefined) return
    let want = this.deps.settings.drainBatch - this.buffer.size
    if (want <= 0) return
    const block = this.buffer.size === 0 && this.gapSince === undefined
    const first = await worker.getNextJob(this.lockToken, { block })
    if (first === undefined) return
    await this.accept(first)
    want--
    while (want > 0 && this.running) {
      const round = Math.min(want, FETCH_ROUND)
      const jobs = await Promise.all(Array.from({ length: round }, async () => await worker.getNextJob(this.lockToken, { block: false })))
      let got = 0
      for (const job of jobs) {
        if (job === undefined) continue
        got++
        await this.accept(job)
      }
      want -= round
      if (got < round) break
    }
  }

  private async accept (job: Job<BuyJobData>): Promise<void> {
    const qpos = Number(job.data?.q)
    if (!Number.isSafeInteger(qpos) || qpos < this.next || this.buffer.has(qpos)) {
      // Served already (a stalled job coming back, or a ticket recovered without its job).
      await job.moveToCompleted('served', this.lockToken, false).catch(() => undefined)
      return
    }
    this.buffer.set(qpos, job)
  }

  private takeRun (): RunItem[] {
    const run: RunItem[] = []
    let q = this.next
    while (run.length < this.deps.settings.drainBatch) {
      const job = this.buffer.get(q)
      if (job === undefined) break
      this.buffer.delete(q)
      run.push({ qpos: q, userId: String(job.data.u), job })
      q++
    }
    return run
  }

  /** Serves admitted positions whose jobs are missing, from the tickets stored in Redis. */
  private async recover (qseq: number): Promise<RunItem[] | undefined> {
    const positions: number[] = []
    for (let q = this.next; q <= qseq && positions.length < this.deps.settings.drainBatch && !this.buffer.has(q); q++) positions.push(q)
    if (positions.length === 0) return undefined
    const values = await this.deps.redis.hmget(this.k.tickets, ...positions.map(String))
    const run = positions.map((qpos, i) => {
      const stored = values[i] == null ? undefined : parseStoredTicket(values[i] as string)
      return { qpos, userId: stored?.userId ?? '0', job: undefined }
    })
    this.deps.log.warn({ shard: this.k.tag, from: positions[0], count: positions.length }, 'recovered admitted tickets whose jobs were missing')
    this.gapSince = undefined
    return run
  }

  /** When the oldest ticket waiting here was admitted (ms), for the lag gauge. */
  oldestWaitingSince (): number | undefined {
    let oldest: number | undefined
    for (const job of this.buffer.values()) oldest = oldest === undefined ? job.timestamp : Math.min(oldest, job.timestamp)
    for (const r of this.retry ?? []) if (r.job !== undefined) oldest = oldest === undefined ? r.job.timestamp : Math.min(oldest, r.job.timestamp)
    return oldest
  }

  private async process (run: RunItem[]): Promise<void> {
    const started = performance.now()
    const startedAt = Date.now()
    const input: DrainBatchInput = {
      eventId: this.ref.eventId,
      shard: this.ref.shard,
      shards: this.shards,
      leaseToken: this.leaseToken,
      tickets: run.map((r) => ({ qpos: r.qpos, userId: r.userId })),
      rate: this.rate
    }
    // A hung thread must not hold the shard: past the timeout piscina ends the thread, the run
    // rejects, and the loop retries the batch (on a fresh thread) after a backoff.
    const result = await this.deps.pool.run(input, { signal: AbortSignal.timeout(this.deps.settings.drainBatchTimeoutMs) }) as DrainBatchResult
    if (result.leaseLost) {
      this.running = false
      this.deps.log.warn({ shard: this.k.tag }, 'shard lease lost; drain stopped')
      return
    }
    const worker = this.worker
    const next = await Promise.all(run.map(async (r) => r.job === undefined || worker === undefined
      ? undefined
      : await worker.completeAndFetch(r.job, this.lockToken).catch(() => undefined)))
    const last = run[run.length - 1] as RunItem
    this.next = last.qpos + 1
    for (const job of next) if (job !== undefined) await this.accept(job)
    const ms = performance.now() - started
    const perSecond = run.length / Math.max(ms / 1000, 0.001)
    this.rate = this.rate === 0 ? perSecond : this.rate * 0.7 + perSecond * 0.3
    await this.recordSiblingsFree(result)
    // Checked after every batch that leaves the shard empty: units may come back and go again.
    if (result.stock === 0) await declareSoldOutIfEmpty(this.deps, { id: this.ref.eventId, shards: this.shards })
    this.deps.onBatch?.({
      ref: this.ref,
      size: run.length,
      recovered: run.filter((r) => r.job === undefined).length,
      result,
      ms,
      startedAt,
      endedAt: Date.now(),
      admittedAt: run.flatMap((r) => r.job === undefined ? [] : [r.job.timestamp])
    })
  }

  /**
   * Tells sibling shards how many units this shard could lend (stock − pending, read now). Their
   * gates count these to admit buyers that borrowing can serve. The free units of a shard only
   * shrink (bar a unit given back), so a value read earlier overstates them: a gate may admit a
   * few buyers too many (they lose in FIFO order) but never turns buyers away too early. Every
   * FREE_HINT_MS, so gates do not over-admit for long while a batch is slow.
   */
  private async shareFreeUnits (): Promise<void> {
    if (this.hinting || !this.running) return
    this.hinting = true
    try {
      const [stock, pending] = await this.deps.redis.mget(this.k.stock, this.k.pending)
      const free = String(Math.max(0, Number(stock ?? 0) - Number(pending ?? 0)))
      await Promise.all(Array.from({ length: this.shards }, (_, s) => s).filter((s) => s !== this.ref.shard).map(async (s) =>
        await this.deps.redis.hset(this.deps.keys.shard({ eventId: this.ref.eventId, shard: s }).peers, String(this.ref.shard), free)))
    } catch (err) {
      this.deps.log.warn({ err, shard: this.k.tag }, 'sharing free units failed')
    } finally {
      this.hinting = false
    }
  }

  /** Records the free units a batch saw at siblings while borrowing (fresher than their hints). */
  private async recordSiblingsFree (result: DrainBatchResult): Promise<void> {
    await Promise.all(result.siblingsFree.map(async ([s, f]) => await this.deps.redis.hset(this.k.peers, String(s), f)))
  }

  private async extendLocks (): Promise<void> {
    const jobs = [...this.buffer.values(), ...(this.retry ?? []).map((r) => r.job)]
    await Promise.all(jobs.map(async (job) => await job?.extendLock(this.lockToken, this.deps.settings.jobLockMs).catch(() => undefined)))
  }
}
