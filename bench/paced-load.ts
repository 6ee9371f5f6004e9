/**
 * An open-loop load: requests sent on a fixed schedule (the k-th due at k ÷ rate seconds)
 * whatever the answers, each one's latency counted from when it was due, not from when a free
 * connection sent it. That is the latency a crowd arriving at that rate sees, queueing included.
 *
 * Hand-written because autocannon's rate option is not this: it runs each connection closed-loop
 * until that connection's quota for the current second is spent, then idles until the next
 * second, so at half the service's most it still sends at full speed for half of each second
 * (measured: the admitted buy "at 50 %" had the closed loop's p50 of 8 ms). The rest is
 * undici's pool; this file only keeps the schedule and the clock.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { Pool } from 'undici'
import { percentile } from './scenarios'

export interface PacedLoad {
  readonly base: string
  readonly seconds: number
  /** Requests per second, all connections together. */
  readonly rate: number
  /** Most requests in flight at once (undici queues the rest: their wait counts). */
  readonly connections: number
  readonly method: 'GET' | 'POST'
  readonly pathOf: (i: number) => string
  readonly tokenOf: (i: number) => string
}

export interface PacedResult {
  /** Answered per second over the schedule's span. */
  readonly reqPerSec: number
  readonly sent: number
  /** Latencies of the 2xx answers; the others are counted apart, so report them beside. */
  readonly p50: number
  readonly p99: number
  readonly max: number
  /** Answered, but not 2xx (a quick 503 would flatter the percentiles). */
  readonly non2xx: number
  /** No answer (reset, timeout). */
  readonly errors: number
  /** This process's own event-loop delay meanwhile, p99 and max, ms: a late sender shows here. */
  readonly senderLagP99: number
  readonly senderLagMax: number
}

/** Resolves once every scheduled request is answered or has failed. */
export async function pacedRun (load: PacedLoad): Promise<PacedResult> {
  if (!(Number.isFinite(load.rate) && load.rate > 0 && Number.isFinite(load.seconds) && load.seconds > 0)) {
    throw new Error(`pacedRun: rate ${load.rate}/s for ${load.seconds} s is not a schedule`)
  }
  const pool = new Pool(load.base, { connections: load.connections, pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 })
  const total = Math.max(1, Math.round(load.rate * load.seconds))
  const intervalMs = 1000 / load.rate
  const latencies: number[] = []
  let answered = 0
  const inFlight = new Set<Promise<void>>()
  let non2xx = 0
  let errors = 0
  const send = (i: number, due: number): void => {
    const done = (async () => {
      try {
        const res = await pool.request({ path: load.pathOf(i), method: load.method, headers: { authorization: `Bearer ${load.tokenOf(i)}` } })
        await res.body.dump()
        answered++
        if (res.statusCode >= 200 && res.statusCode < 300) latencies.push(performance.now() - due)
        else non2xx++
      } catch {
        errors++
      }
    })()
    inFlight.add(done)
    void done.finally(() => inFlight.delete(done))
  }
  const lag = monitorEventLoopDelay({ resolution: 1 })
  lag.enable()
  const start = performance.now()
  let next = 0
  try {
    while (next < total) {
      const now = performance.now()
      while (next < total && start + next * intervalMs <= now) {
        send(next, start + next * intervalMs)
        next++
      }
      // A timer's least wait is about a millisecond: requests due meanwhile go out together at
      // the next turn, each still timed from its own due time.
      if (next < total) await sleep(Math.max(0, start + next * intervalMs - performance.now()))
    }
    while (inFlight.size > 0) await Promise.all([...inFlight])
  } finally {
    lag.disable()
    await pool.close()
  }
  const span = (performance.now() - start) / 1000
  latencies.sort((a, b) => a - b)
  return { reqPerSec: answered / Math.max(span, load.seconds), sent: total, p50: round1(percentile(latencies, 0.5)), p99: round1(percentile(latencies, 0.99)), max: round1(latencies.at(-1) ?? 0), non2xx, errors, senderLagP99: round1(lag.percentile(99) / 1e6), senderLagMax: round1(lag.max / 1e6) }
}

function round1 (ms: number): number {
  return Math.round(ms * 10) / 10
}
