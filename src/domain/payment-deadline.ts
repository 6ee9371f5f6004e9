/**
 * Payment deadlines. Each won order gets a delayed BullMQ job (id `order-<id>`, so scheduling it
 * twice is a no-op) that expires the order when its time is up. A backstop sweep every
 * SWEEP_MS expires overdue orders whose job never made it to the queue (a worker that died between
 * committing orders and scheduling their deadlines).
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
  readonly orderId: number
}

const SWEEP_MS = 30_000
/** The sweep leaves the delayed job this long to act first. */
const SWEEP_GRACE_MS = 5000

export class PaymentDeadlines {
  private readonly queue: Queue<ExpiryJob>
  private worker: Worker<ExpiryJob> | undefined
  private sweeper: NodeJS.Timeout | undefined

  constructor (
    private readonly connection: RedisClient,
    keys: KeySpace,
    private readonly lifecycle: LifecycleDeps,
    private readonly log: Logger,
    private readonly onExpired?: (n: number) => void
  ) {
    this.queue = new Queue<ExpiryJob>(EXPIRY_QUEUE_NAME, { connection, prefix: keys.expiryQueuePrefix, streams: { events: { maxLen: 100 } } })
    this.queue.on('error', (err) => this.log.warn({ err }, 'expiry queue error'))
  }

  /** Schedules the expiry of newly won orders. */
  async schedule (orders: ReadonlyArray<{ readonly orderId: number, readonly expiresAt: number }>): Promise<void> {
    if (orders.length === 0) return
    const now = Date.now()
    await this.queue.addBulk(orders.map((o) => ({
      name: 'expire',
      data: { orderId: o.orderId },
      opts: {
        jobId: `order-${o.orderId}`,
        delay: Math.max(0, o.expiresAt - now),
        attempts: 20,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: true,
        removeOnFail: { age: 86_400 }
      }
    })))
  }

  /** Runs the expiry jobs and the backstop sweep in this process. */
  start (): void {
    this.worker = new Worker<ExpiryJob>(EXPIRY_QUEUE_NAME, async (job: Job<ExpiryJob>, token?: string) => {
      const result = await expireOrder(this.lifecycle, job.data.orderId)
      if (result === 'not_due') {
        // Fired before the deadline MySQL holds (clocks differ): wait for it.
        const order = await this.lifecycle.orders.findById(job.data.orderId)
        await job.moveToDelayed(Math.max(Date.now() + 1000, order?.expiresAt?.getTime() ?? 0), token)
        throw new DelayedError()
      }
      if (result === 'expired') this.onExpired?.(1)
      return result
    }, { connection: this.connection, prefix: this.queue.opts.prefix, concurrency: 8 })
    this.worker.on('error', (err) => this.log.warn({ err }, 'expiry worker error'))
    this.sweeper = setInterval(() => { void this.sweep() }, SWEEP_MS)
  }

  /** Expires every overdue order; returns how many were expired now. */
  async sweep (): Promise<number> {
    let expired = 0
    try {
      for (const id of await this.lifecycle.orders.overdue(SWEEP_GRACE_MS, 500)) {
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
    clearInterval(this.sweeper)
    await this.worker?.close()
    await this.queue.close()
  }
}
