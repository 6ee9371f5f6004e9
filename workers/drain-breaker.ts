/**
 * The worker's circuit breaker over its dependencies (Redis, MySQL), shared by every shard drain
 * of the process. While batches keep failing, the drains stop launching batches (they park here
 * instead of each retrying on its own schedule against a database that is down); the breaker then
 * probes the dependencies itself -- a PING and a `SELECT 1` -- and only when both answer do the
 * drains resume. Failing probes double the wait before the next one, up to a bound.
 *
 *   closed    batches run; `TRIP_AFTER` failed batches in a row (any shards) open it
 *   open      no batch is launched; after the cool-down a probe runs (half-open)
 *   half_open the probe is running: success closes, failure opens again for twice as long
 *
 * Hand-written rather than opossum: opossum's half-open state lets one real call through as its
 * trial and rejects the others at once, where a drain must wait (parked, not failing and logging)
 * and resume on a probe of both dependencies. Holding batches back is always safe: a batch is
 * only delayed, never changed (every stage is idempotent per ticket, and leases still fence).
 *
 * Metrics: `seckill_drain_breaker_state` (0 closed, 1 half-open, 2 open),
 * `seckill_drain_breaker_transitions_total{to}`, `seckill_drain_batch_failures_total`; alert SeckillDrainBreakerOpen (ops/alerts.yml).
 */
import type { Logger } from 'pino'

export type BreakerState = 'closed' | 'open' | 'half_open'

export interface BreakerSettings {
  /** Failed batch landings in a row, with no success between, that open the breaker. */
  readonly tripAfter: number
  /** First wait before probing; doubled after each failed probe up to `maxCoolDownMs`. */
  readonly coolDownMs: number
  readonly maxCoolDownMs: number
  /** A probe not answered within this fails. */
  readonly probeTimeoutMs: number
}

export const BREAKER_DEFAULTS: BreakerSettings = { tripAfter: 3, coolDownMs: 1000, maxCoolDownMs: 30_000, probeTimeoutMs: 2000 }

export interface BreakerDeps {
  /** Resolves when Redis and MySQL both answer (rejects otherwise). */
  readonly probe: () => Promise<void>
  readonly log: Logger
  readonly onState?: (state: BreakerState) => void
  /** Every failed batch, whatever the state (seckill_drain_batch_failures_total). */
  readonly onFailure?: () => void
}

export class DrainBreaker {
  private state: BreakerState = 'closed'
  private failuresInRow = 0
  private coolDownMs: number
  private timer: NodeJS.Timeout | undefined
  private waiters: Array<() => void> = []
  private stopped = false

  constructor (private readonly deps: BreakerDeps, private readonly settings: BreakerSettings = BREAKER_DEFAULTS) {
    this.coolDownMs = settings.coolDownMs
  }

  get current (): BreakerState {
    return this.state
  }

  /** A batch landed: the dependencies answer. */
  success (): void {
    this.failuresInRow = 0
  }

  /** A batch failed (a stage threw or timed out). */
  failure (err: unknown): void {
    this.deps.onFailure?.()
    if (this.state !== 'closed') return
    this.failuresInRow++
    if (this.failuresInRow < this.settings.tripAfter) return
    this.deps.log.error({ err, failures: this.failuresInRow, probeInMs: this.coolDownMs }, 'drain breaker open: no batch runs until Redis and MySQL answer a probe')
    this.open()
  }

  /** Resolves at once while closed; otherwise when a probe has closed it (or the breaker stopped). */
  async whenClosed (): Promise<void> {
    if (this.state === 'closed' || this.stopped) return
    await new Promise<void>((resolve) => this.waiters.push(resolve))
  }

  /** Releases every parked drain (the process is stopping) and probes no more. */
  stop (): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.release()
  }

  private open (): void {
    this.setState('open')
    this.timer = setTimeout(() => { void this.probe() }, this.coolDownMs)
  }

  private async probe (): Promise<void> {
    if (this.stopped) return
    this.setState('half_open')
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        this.deps.probe(),
        new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`probe not answered in ${this.settings.probeTimeoutMs} ms`)), this.settings.probeTimeoutMs) })
      ])
    } catch (err) {
      clearTimeout(timer)
      if (this.stopped) return
      this.coolDownMs = Math.min(this.settings.maxCoolDownMs, this.coolDownMs * 2)
      this.deps.log.warn({ err, probeInMs: this.coolDownMs }, 'drain breaker probe failed; still open')
      this.open()
      return
    }
    clearTimeout(timer)
    this.failuresInRow = 0
    this.coolDownMs = this.settings.coolDownMs
    this.setState('closed')
    this.deps.log.info('drain breaker closed: Redis and MySQL answer; drains resume')
    this.release()
  }

  private setState (state: BreakerState): void {
    this.state = state
    this.deps.onState?.(state)
  }

  private release (): void {
    const waiters = this.waiters
    this.waiters = []
    for (const w of waiters) w()
  }
}
