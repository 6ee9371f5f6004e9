/**
 * p99 of one route's answers since the previous sample, from this process's request-duration
 * histogram (bucket counts now minus bucket counts then). Read by the operator page's stats; an
 * upper bound at bucket resolution, like Prometheus's histogram_quantile.
 *
 * Hand-written rather than a prom-client Summary (maxAgeSeconds) on purpose: it reads the
 * histogram every request already feeds, so a buy pays nothing for it, while a Summary would be a
 * second observation per buy. Measured here (prom-client 15, 10^6 observations, Node 20): a
 * Summary with 5 age buckets costs 4.95 µs per observe against 0.74 µs for the histogram, about
 * 3 % of a core at 6,000 buys/s on the ingress's hottest route.
 */
import type { Histogram } from 'prom-client'

export class LatencyWindow {
  private previous = new Map<number, number>()

  constructor (private readonly histogram: Histogram<'route' | 'method' | 'status'>, private readonly route: string) {}

  /** The p99 in ms since the last call, or null when no request was answered since. */
  async p99Ms (): Promise<number | null> {
    const { values } = await this.histogram.get()
    const now = new Map<number, number>()
    for (const v of values) {
      if (v.metricName?.endsWith('_bucket') !== true || v.labels.route !== this.route) continue
      // Bucket samples carry `le` beside the histogram's own labels.
      const bound = (v.labels as Record<string, string | number | undefined>).le
      const le = bound === '+Inf' ? Number.POSITIVE_INFINITY : Number(bound)
      now.set(le, (now.get(le) ?? 0) + v.value)
    }
    const bounds = [...now.keys()].sort((a, b) => a - b)
    const delta = bounds.map((le) => (now.get(le) ?? 0) - (this.previous.get(le) ?? 0))
    this.previous = now
    const total = delta[delta.length - 1] ?? 0
    if (total <= 0) return null
    const i = delta.findIndex((count) => count >= total * 0.99)
    const le = bounds[i] ?? Number.POSITIVE_INFINITY
    return Number.isFinite(le) ? le * 1000 : (bounds[bounds.length - 2] ?? 0) * 1000
  }
}
