/**
 * Taking a shard's jobs, in queue-position order. One script call (lua/takeJobs) deletes the jobs
 * whose tickets are decided and takes more, so a backlog costs a few Redis commands per ticket
 * rather than BullMQ's fetch-lock-complete round trips for each job. The shard lease says who may
 * hold the jobs; an owner's first take adopts the ones its predecessor had taken.
 *
 * Admission adds a ticket's job in the same script that hands out its position, so jobs arrive in
 * position order; taken jobs still wait in a small buffer, and only the contiguous run that starts
 * at the next undecided position is served. A position that was admitted but whose job does not
 * arrive within `gapGraceMs` (removed with a BullMQ tool) is served from the ticket stored in
 * Redis. It must never put a position in two runs, skip one, or delete a job before its ticket's
 * outcome is written (settle() is told only once a batch has landed).
 */
import type { Logger } from 'pino'
import type { RedisClient } from '../../src/redis/scripts'
import type { BuyQueueKeys, ShardKeys } from '../../src/redis/keys'
import { takeJobs } from '../../src/redis/commands'
import type { TakenJob } from '../../src/redis/commands'

/** A position put in a run. */
export interface RunItem {
  readonly qpos: number
  /** Undefined for a ticket served without its job (recovered from Redis). */
  readonly job: TakenJob | undefined
}

interface TakerSettings {
  readonly drainBatch: number
  readonly drainPipeline: number
  readonly gapGraceMs: number
}

export class JobTaker {
  private readonly buffer = new Map<number, TakenJob>()
  /** Jobs whose tickets are decided: deleted by the next take. */
  private settled: string[] = []
  private adopted = false
  /** Next queue position to put in a run (those before it are decided or in flight). */
  private next = 1
  private gapSince: number | undefined
  /** While a randomized start's entrants are placed: the last position placed (none beyond is admitted yet). */
  private limit: number | undefined

  constructor (
    private readonly redis: RedisClient,
    private readonly k: ShardKeys,
    private readonly q: BuyQueueKeys,
    /** The ticket id of a position of this shard is this prefix and the position. */
    private readonly idPrefix: string,
    private readonly leaseToken: string,
    private readonly settings: TakerSettings,
    private readonly log: Logger
  ) {}

  /** Starts after the last position the shard has decided (its FIFO mark). */
  async startAfterDrained (): Promise<void> {
    this.next = Number(await this.redis.get(this.k.drained) ?? '0') + 1
  }

  /**
   * Positions beyond `last` are not admitted yet (a placement in progress): never served without
   * their jobs. Undefined: every position up to the shard's qseq is admitted.
   */
  limitTo (last: number | undefined): void {
    this.limit = last
  }

  /** Jobs taken and not yet put in a run. */
  get buffered (): number {
    return this.buffer.size
  }

  /** Settles decided jobs and takes more, a batch beyond those the pipeline can hold; returns how many came. */
  async fill (): Promise<number | 'lease_lost'> {
    // A batch at most per call: the first batch of a backlog starts after one batch's take, not
    // after the whole pipeline's (bench:drain, the 4,000 jobs of a first take took about 20 ms).
    const want = Math.max(0, Math.min(this.settings.drainBatch, (this.settings.drainPipeline + 1) * this.settings.drainBatch - this.buffer.size))
    if (want === 0 && this.settled.length === 0 && this.adopted) return 0
    const reply = await takeJobs(this.redis, this.k, this.q, this.leaseToken, want, !this.adopted, this.settled)
    if (reply.leaseLost) return 'lease_lost'
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
  readyCount (): number {
    let n = 0
    while (n < this.settings.drainBatch && this.buffer.has(this.next + n)) n++
    return n
  }

  /** The contiguous run from `next` whose jobs are here, up to a batch (maybe empty). */
  takeRun (): RunItem[] {
    const run: RunItem[] = []
    let q = this.next
    while (run.length < this.settings.drainBatch) {
      const job = this.buffer.get(q)
      if (job === undefined) break
      this.buffer.delete(q)
      run.push({ qpos: q, job })
      q++
    }
    this.next = q
    if (run.length > 0) this.gapSince = undefined
    return run
  }

  /**
   * With no run ready, whether an admitted position lacks its job: 'none' when every admitted
   * position is decided or in flight; 'grace' while the next one's job may still come (within
   * gapGraceMs of first finding it missing); past that, the run to serve without their jobs.
   */
  async missing (): Promise<'none' | 'grace' | RunItem[] | undefined> {
    const qseq = Math.min(Number(await this.redis.get(this.k.qseq) ?? '0'), this.limit ?? Infinity)
    if (qseq < this.next) {
      this.gapSince = undefined
      return 'none'
    }
    // Positions up to qseq were admitted; the job for `next` has not come.
    this.gapSince ??= Date.now()
    if (Date.now() - this.gapSince < this.settings.gapGraceMs) return 'grace'
    return this.recover(qseq)
  }

  /** Serves admitted positions whose jobs are missing, from the tickets stored in Redis. */
  private recover (qseq: number): RunItem[] | undefined {
    const run: RunItem[] = []
    for (let q = this.next; q <= qseq && run.length < this.settings.drainBatch && !this.buffer.has(q); q++) run.push({ qpos: q, job: undefined })
    if (run.length === 0) return undefined
    this.next += run.length
    this.log.warn({ shard: this.k.tag, from: run[0]?.qpos, count: run.length }, 'recovered admitted tickets whose jobs were missing')
    this.gapSince = undefined
    return run
  }

  /** A run's tickets are decided: their jobs are deleted by the next take. */
  settle (run: readonly RunItem[]): void {
    for (const r of run) if (r.job !== undefined) this.settled.push(r.job.id)
  }

  /** When the oldest job waiting here was admitted (ms). */
  oldestAddedAt (): number | undefined {
    let oldest: number | undefined
    for (const job of this.buffer.values()) oldest = oldest === undefined ? job.addedAt : Math.min(oldest, job.addedAt)
    return oldest
  }

  /** On stop: deletes the settled jobs (best effort); the jobs still held stay taken for the next owner to adopt. */
  async release (): Promise<void> {
    if (this.settled.length > 0) {
      // Best effort: a job left behind is found decided by the next owner and deleted then.
      await takeJobs(this.redis, this.k, this.q, this.leaseToken, 0, false, this.settled).catch(() => undefined)
      this.settled = []
    }
    this.buffer.clear()
  }
}
