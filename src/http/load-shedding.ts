/**
 * Load shedding: when this ingress is saturated, buys and ticket polls are answered 503 OVERLOADED
 * with Retry-After at once, before their latency runs away for everyone; a buyer's page waits as
 * told and tries again. Everything else (health, readiness, metrics, the pages, sign-in) keeps
 * being served, so the orchestrator does not take a busy ingress for a dead one.
 *
 * Saturated means any of:
 *   - more buys and polls in flight than `maxInFlight` (a long-poll's wait is not counted: those
 *     are bounded by MAX_WAITING). Measured (bench:overload): 2,000 connections sending buys at
 *     one ingress kept its event loop turning (the delay stayed far under 250 ms) while answers
 *     waited 3-5 s in line behind each other; the event-loop bound never fired. A bound on the
 *     requests in flight is what keeps the answered ones' latency near (in flight / throughput).
 *   - the event loop lagging past `eventLoopDelayMs` (averaged over a second), or the heap past
 *     `heapMiB`: @fastify/under-pressure's measures. Its default answer would refuse every route,
 *     so its global handler lets every request through, and only routes whose config says
 *     `shed: true` get the shedding handler.
 */
import underPressure from '@fastify/under-pressure'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { DomainError } from '../shared/errors'

export interface SheddingOptions {
  /** Buys and polls (not waiting long-polls) in flight past which shedding starts; 0: never. */
  readonly maxInFlight: number
  /** Mean event-loop delay in ms past which shedding starts; 0: never. */
  readonly eventLoopDelayMs: number
  /** Heap in use, MiB, past which shedding starts; 0: never. */
  readonly heapMiB: number
  /** Counts each request shed, by route and by what was over its bound. */
  readonly onShed: (route: string, reason: string) => void
  /**
   * Requests not counted in flight: answered without admission work (a buy of a sale this
   * ingress remembers as sold out costs a share of one batched confirmation, and holding a
   * crowd of them to the in-flight bound would turn cheap answers into 503s).
   */
  readonly exempt?: (request: FastifyRequest) => boolean
}

/** What a client is told to wait before trying again. */
const RETRY_AFTER_MS = 1000

/** Route config of the routes that are shed under pressure. */
export const SHED = { shed: true } as const

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Answer 503 OVERLOADED at once while the ingress is saturated (load-shedding.ts). */
    shed?: boolean
  }
}

/** A long-poll (its wait is bounded by MAX_WAITING, not here). */
const isLongPoll = (request: FastifyRequest): boolean => {
  const wait = (request.query as { wait?: unknown } | undefined)?.wait
  return wait !== undefined && wait !== '0' && wait !== 0
}

export async function registerLoadShedding (app: FastifyInstance, opts: SheddingOptions): Promise<void> {
  if (opts.maxInFlight > 0) {
    let inFlight = 0
    const counted = new WeakSet<FastifyRequest>()
    // Callback hooks, not async ones: they run on every buy, and cost no promise each.
    const release = (request: FastifyRequest, _reply: unknown, done: () => void): void => {
      if (counted.delete(request)) inFlight--
      done()
    }
    // First of the request's hooks: a shed request costs no token check and no Redis.
    app.addHook('onRequest', (request, _reply, done) => {
      if (request.routeOptions.config.shed !== true || isLongPoll(request) || opts.exempt?.(request) === true) {
        done()
        return
      }
      if (inFlight >= opts.maxInFlight) {
        opts.onShed(request.routeOptions.url ?? '', 'inFlight')
        done(new DomainError('OVERLOADED', 'the sale is very busy right now; retry shortly', RETRY_AFTER_MS))
        return
      }
      inFlight++
      counted.add(request)
      done()
    })
    app.addHook('onResponse', release)
    app.addHook('onRequestAbort', (request, done) => release(request, undefined, done))
  }
  if (opts.eventLoopDelayMs === 0 && opts.heapMiB === 0) return
  await app.register(underPressure, {
    maxEventLoopDelay: opts.eventLoopDelayMs,
    maxHeapUsedBytes: opts.heapMiB * 1024 * 1024,
    pressureHandler: async (request: FastifyRequest, _reply: FastifyReply, type: string) => {
      if (request.routeOptions.config.shed !== true) return
      opts.onShed(request.routeOptions.url ?? '', type)
      throw new DomainError('OVERLOADED', 'the sale is very busy right now; retry shortly', RETRY_AFTER_MS)
    }
  })
}
