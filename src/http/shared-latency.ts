/**
 * The buy route's p99 across every ingress, for the operator page: each ingress adds the
 * latency-bucket counts of the buys it answered to a per-second hash in Redis once a second (one
 * pipelined call, nothing per buy: the counts come from the request-duration histogram every
 * request already feeds), and a stats read merges the last few complete seconds of every ingress.
 * An upper bound at bucket resolution, like Prometheus's histogram_quantile.
 */
import type { Histogram } from 'prom-client'
import type { RedisClient } from '../redis/scripts'
import type { KeySpace } from '../redis/keys'

/** Seconds of buys the p99 covers. */
export const P99_WINDOW_S = 5
const KEEP_S = 120

/** The p99 (ms) of cumulative bucket counts `le (s) -> count`; null when there are none. */
export function p99FromBuckets (cumulative: ReadonlyMap<number, number>): number | null {
  const bounds = [...cumulative.keys()].sort((a, b) => a - b)
  const total = cumulative.get(Number.POSITIVE_INFINITY) ?? Math.max(0, ...cumulative.values())
  if (total <= 0) return null
  const i = bounds.findIndex((le) => (cumulative.get(le) ?? 0) >= total * 0.99)
  const le = bounds[i] ?? Number.POSITIVE_INFINITY
  return Number.isFinite(le) ? Math.round(le * 1000 * 1000) / 1000 : (bounds[bounds.length - 2] ?? 0) * 1000
}

export class SharedLatency {
  private previous = new Map<number, number>()
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly redis: RedisClient, private readonly keys: KeySpace, private readonly histogram: Histogram<'route' | 'method' | 'status'>, private readonly route: string) {}

  /** This process's cumulative bucket counts for the route now. */
  private async buckets (): Promise<Map<number, number>> {
    const { values } = await this.histogram.get()
    const now = new Map<number, number>()
    for (const v of values) {
      if (v.metricName?.endsWith('_bucket') !== true || v.labels.route !== this.route) continue
      const bound = (v.labels as Record<string, string | number | undefined>).le
      const le = bound === '+Inf' ? Number.POSITIVE_INFINITY : Number(bound)
      now.set(le, (now.get(le) ?? 0) + v.value)
    }
    return now
  }

  /** Adds the buys answered since the last flush to this second's hash. */
  async flush (at = Date.now()): Promise<void> {
    const now = await this.buckets()
    const key = this.keys.buyLatency(Math.floor(at / 1000))
    const multi = this.redis.multi()
    let any = false
    for (const [le, count] of now) {
      const delta = count - (this.previous.get(le) ?? 0)
      if (delta <= 0) continue
      multi.hincrby(key, Number.isFinite(le) ? String(le) : '+Inf', delta)
      any = true
    }
    this.previous = now
    if (!any) return
    multi.expire(key, KEEP_S)
    await multi.exec()
  }

  start (): void {
    // Counts up to now belong to no second yet read; begin from them.
    void this.buckets().then((b) => { this.previous = b }).catch(() => undefined)
    this.timer = setInterval(() => { this.flush().catch(() => undefined) }, 1000)
    this.timer.unref()
  }

  async close (): Promise<void> {
    clearInterval(this.timer)
    await this.flush().catch(() => undefined)
  }

  /** p99 (ms) of the buys every ingress answered in the last P99_WINDOW_S complete seconds; null when none. */
  async p99Ms (at = Date.now()): Promise<number | null> {
    const second = Math.floor(at / 1000)
    const hashes = await Promise.all(Array.from({ length: P99_WINDOW_S }, async (_, i) => await this.redis.hgetall(this.keys.buyLatency(second - 1 - i))))
    const merged = new Map<number, number>()
    for (const h of hashes) {
      for (const [le, count] of Object.entries(h)) {
        const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le)
        merged.set(bound, (merged.get(bound) ?? 0) + Number(count))
      }
    }
    return p99FromBuckets(merged)
  }
}
