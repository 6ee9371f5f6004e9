/**
 * Payment deadlines, on one clock: MySQL's.
 *
 * - An order's deadline is set once, by the order write: MySQL's `CURRENT_TIMESTAMP(3)`, read with
 *   the event's lock, plus PAYMENT_TIMEOUT_MS (`paymentDeadline` below, the one place it is
 *   computed; order-write.ts and joint-write.ts call it).
 * - Expiry is a guarded SQL transition (`status = 'pending_payment' AND expires_at <= NOW(3)`,
 *   orders.ts `transition`), the exact complement of the payment's guard: whatever a process's
 *   clock says, a payable order is never expired, and a buyer paying inside the deadline is paid.
 * - Every worker process runs this loop: expire the orders MySQL says are due, ask MySQL how long
 *   until the next deadline (a difference of two MySQL times), sleep that long on a monotonic
 *   timer, at most MAX_SLEEP_MS (orders committed meanwhile are seen within it), look again. An
 *   order therefore expires a few milliseconds after its deadline by MySQL's clock, however far
 *   the worker's own clock is off. Due orders are expired a hundred per transaction (a drain
 *   batch's orders share one deadline). Several workers look at the same due orders; each locks
 *   its own (rows another holds are skipped), and they take them in different orders so they
 *   rarely meet.
 *
 * No BullMQ delayed jobs: a delayed job fires when the clock of whichever worker promotes it passes
 * the time the scheduling worker stamped, so with one worker 30 s fast and one 30 s slow a job fires
 * up to a minute early or late. Early is harmless under the guard; late breaks the one-second
 * bound, so a loop on MySQL's clock is needed anyway, and once it exists the jobs only duplicate
 * it (they also cost an `add` per drain batch on the worker's main thread). One mechanism, one
 * clock; the loop is also the backstop the old sweep was (a worker dying after its commit loses
 * nothing: the deadline is in the row).
 */
import type { Logger } from 'pino'
import { expireDueOrders } from './order-lifecycle'
import type { LifecycleDeps } from './order-lifecycle'

/**
 * An order's payment deadline, the one place it is computed: MySQL's clock as the order write read
 * it (`CURRENT_TIMESTAMP(3)`, with the event's lock), plus the payment timeout. Never from a
 * process's clock.
 */
export function paymentDeadline (mysqlNow: Date, paymentTimeoutMs: number): Date {
  return new Date(mysqlNow.getTime() + paymentTimeoutMs)
}

/** Longest sleep between two looks: a new order's deadline is at least PAYMENT_TIMEOUT_MS (≥ 1 s) away. */
const MAX_SLEEP_MS = 1000
/** After a look that failed (MySQL unreachable). */
const RETRY_MS = 1000
/** After a look that found due orders and ended none (another process is ending them). */
const BUSY_MS = 50
/** Due orders taken per look, expired per transaction, and transactions at once. */
const DUE_PER_LOOK = 1000
const EXPIRED_PER_TRANSACTION = 100
const TRANSACTIONS_AT_ONCE = 2

export class PaymentDeadlines {
  private stopped = false
  private loop: Promise<void> | undefined
  private sleeping: { timer: NodeJS.Timeout, wake: () => void } | undefined

  constructor (
    private readonly lifecycle: LifecycleDeps,
    private readonly log: Logger,
    private readonly onExpired?: (n: number) => void
  ) {}

  /** Runs the expiry loop in this process. */
  start (): void {
    this.loop ??= this.run()
  }

  private async run (): Promise<void> {
    while (!this.stopped) {
      let waitMs = RETRY_MS
      try {
        const { due, expired } = await this.expireDue()
        const next = await this.lifecycle.orders.msToNextDeadline()
        waitMs = next === undefined ? MAX_SLEEP_MS : Math.min(MAX_SLEEP_MS, Math.max(0, Math.ceil(next)))
        if (waitMs === 0 && due > 0 && expired === 0) waitMs = BUSY_MS
      } catch (err) {
        this.log.warn({ err }, 'payment deadlines: looking for due orders failed; trying again')
      }
      if (waitMs > 0) await this.sleep(waitMs)
    }
  }

  /**
   * Expires the orders whose deadline has passed by MySQL's clock (up to DUE_PER_LOOK of them), a
   * transaction per EXPIRED_PER_TRANSACTION; returns how many were due and how many this call expired.
   */
  async expireDue (): Promise<{ due: number, expired: number }> {
    const due = shuffle(await this.lifecycle.orders.due(DUE_PER_LOOK))
    const chunks: number[][] = []
    for (let i = 0; i < due.length; i += EXPIRED_PER_TRANSACTION) chunks.push(due.slice(i, i + EXPIRED_PER_TRANSACTION))
    let expired = 0
    let next = 0
    await Promise.all(Array.from({ length: Math.min(TRANSACTIONS_AT_ONCE, chunks.length) }, async () => {
      while (next < chunks.length && !this.stopped) {
        expired += (await expireDueOrders(this.lifecycle, chunks[next++] as number[])).length
      }
    }))
    if (expired > 0) this.onExpired?.(expired)
    return { due: due.length, expired }
  }

  private async sleep (ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      this.sleeping = { timer: setTimeout(resolve, ms), wake: resolve }
    })
    this.sleeping = undefined
  }

  /** Stops the loop after the orders being expired now. */
  async close (): Promise<void> {
    this.stopped = true
    if (this.sleeping !== undefined) {
      clearTimeout(this.sleeping.timer)
      this.sleeping.wake()
    }
    await this.loop
  }
}

/** Fisher–Yates, so that workers looking at the same due orders mostly take different ones. */
function shuffle<T> (items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    const a = items[i] as T
    items[i] = items[j] as T
    items[j] = a
  }
  return items
}
