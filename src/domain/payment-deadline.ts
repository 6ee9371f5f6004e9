/**
 * Payment deadlines. The orders committed within SCHEDULE_GATHER_MS of each other share one delayed
 * BullMQ job (id from its orders, so scheduling it twice is a no-op) that expires those still
 * unpaid when the latest of their deadlines is up -- never before any of them. One job per batch
 * rather than per order: at a flash sale's pace, a job per order cost the drain half its speed;
 * and with many small sales a batch holds a ticket or two, so batches are gathered too (bench:many,
 * 50 sales: a job's `add` per batch, about 700 a second, was 5 % of the worker's main thread). A backstop
 * sweep expires overdue orders whose job never made it to the queue (a worker that died between
 * committing orders and scheduling their deadlines), every payment timeout (at least 1 s, at most
 * 30 s), so such an order is late by about one payment timeout at most: with 30 s whatever the
 * timeout, a fault drill with 2.5 s to pay waited 25 s for one unit to come back.
 */
import { DelayedError, Queue, Worker } from 'bullmq'
import type { Job } from 'bullmq'
import type { RedisClient } from '../redis/scripts'
import type { Logger } from 'pino'
import { EXPIRY_QUEUE_NAME } from '../redis/keys'
import type { KeySpace } from '../redis/keys'
import { expireOrder } from './order-lifecycle'
import type { LifecycleDeps } from './order-lifecycle'

interface ExpiryJob {
  readonly orderIds: readonly number[]
}

/** How long orders wait for others to share their job, and most orders in one job. */
const SCHEDULE_GATHER_MS = 50
const MAX_ORDERS_PER_JOB = 5000

/** Orders waiting to be scheduled together, and the callers waiting for that. */
interface Gathering {
  readonly orderIds: number[]
  expiresAt: number
  readonly timer: NodeJS.Timeout
  readonly done: Promise<void>
  readonly settle: (err?: unknown) => void
}

/** The sweep's interval, and the time it leaves the delayed job to act first, for a payment timeout. */
export function sweepTiming (paymentTimeoutMs: number): { everyMs: number, graceMs: number } {
  return {
    everyMs: Math.min(30_000, Math.max(1000, paymentTimeoutMs)),
    graceMs: Math.min(5000, Math.max(500, Math.floor(paymentTimeoutMs / 2)))
  }
}

export class PaymentDeadlines {
  private readonly queue: Queue<ExpiryJob>
  private worker: Worker<ExpiryJob> | undefined
  private sweeper: NodeJS.Timeout | undefined
  private gathering: Gathering | undefined

  constructor (
    private readonly connection: RedisClient,
    keys: KeySpace,
    private readonly lifecycle: LifecycleDeps,
    private readonly log: Logger,
    private readonly paymentTimeoutMs: number,
    private readonly onExpired?: (n: number) => void
  ) {
    this.queue = new Queue<ExpiryJob>(EXPIRY_QUEUE_NAME, { connection, prefix: keys.expiryQueuePrefix, streams: { events: { maxLen: 100 } } })
    this.queue.on('error', (err) => this.log.warn({ err }, 'expiry queue error'))
  }

  /**
   * Schedules the expiry of orders committed together, due at `expiresAt` (ms); resolves once their
   * job is in the queue (with the orders of other batches gathered meanwhile).
   */
  async schedule (orderIds: readonly number[], expiresAt: number): Promise<void> {
    if (orderIds.length === 0) return
    if (this.gathering === undefined) {
      let settle: (err?: unknown) => void = () => undefined
      const done = new Promise<void>((resolve, reject) => { settle = (err) => { if (err === undefined) resolve(); else reject(err) } })
      this.gathering = { orderIds: [], expiresAt, timer: setTimeout(() => { void this.flush() }, SCHEDULE_GATHER_MS), done, settle }
    }
    const g = this.gathering
    g.orderIds.push(...orderIds)
    g.expiresAt = Math.max(g.expiresAt, expiresAt)
    if (g.orderIds.length >= MAX_ORDERS_PER_JOB) void this.flush()
    await g.done
  }

  /** Adds the gathered orders' job now. */
  private async flush (): Promise<void> {
    const g = this.gathering
    if (g === undefined) return
    this.gathering = undefined
    clearTimeout(g.timer)
    const first = g.orderIds.reduce((a, b) => Math.min(a, b))
    try {
      await this.queue.add('expire', { orderIds: g.orderIds }, {
        jobId: `orders-${first}-${g.orderIds.length}`,
        delay: Math.max(0, g.expiresAt - Date.now()),
        attempts: 20,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: true,
        removeOnFail: { age: 86_400 }
      })
      g.settle()
    } catch (err) {
      g.settle(err)
    }
  }

  /** Runs the expiry jobs and the backstop sweep in this process. */
  start (): void {
    this.worker = new Worker<ExpiryJob>(EXPIRY_QUEUE_NAME, async (job: Job<ExpiryJob>, token?: string) => {
      const notDue: number[] = []
      let expired = 0
      for (const id of job.data.orderIds) {
        const result = await expireOrder(this.lifecycle, id)
        if (result === 'expired') expired++
        if (result === 'not_due') notDue.push(id)
      }
      if (expired > 0) this.onExpired?.(expired)
      if (notDue.length > 0) {
        // Fired before the deadline MySQL holds (clocks differ): wait for it, for those orders only.
        const deadlines = await Promise.all(notDue.map(async (id) => (await this.lifecycle.orders.findById(id))?.expiresAt?.getTime() ?? 0))
        await job.updateData({ orderIds: notDue })
        await job.moveToDelayed(Math.max(Date.now() + 1000, ...deadlines), token)
        throw new DelayedError()
      }
      return expired
    }, { connection: this.connection, prefix: this.queue.opts.prefix, concurrency: 8 })
    this.worker.on('error', (err) => this.log.warn({ err }, 'expiry worker error'))
    this.sweeper = setInterval(() => { void this.sweep() }, sweepTiming(this.paymentTimeoutMs).everyMs)
  }

  /** Expires every overdue order; returns how many were expired now. */
  async sweep (): Promise<number> {
    let expired = 0
    try {
      for (const id of await this.lifecycle.orders.overdue(sweepTiming(this.paymentTimeoutMs).graceMs, 500)) {
        if (await expireOrder(this.lifecycle, id) === 'expired') expired++
      }
      if (expired > 0) {
        this.log.warn({ expired }, 'expiry sweep expired orders whose deadline job was missing')
        this.onExpired?.(expired)
      }
    } catch (err) {
      this.log.warn({ err }, 'expiry sweep failed')
    }
    return expired
  }

  async close (): Promise<void> {
    // Orders gathered and not yet scheduled get their job before the queue closes.
    await this.flush()
    clearInterval(this.sweeper)
    await this.worker?.close()
    await this.queue.close()
  }
}
