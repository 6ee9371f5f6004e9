/**
 * Load shedding: when this ingress is saturated (its event loop lags, or its heap passes a bound),
 * buys and ticket polls are answered 503 OVERLOADED with Retry-After at once, before their latency
 * runs away for everyone; a buyer's page waits as told and tries again. Everything else (health,
 * readiness, metrics, the pages, sign-in) keeps being served, so the orchestrator does not take a
 * busy ingress for a dead one.
 *
 * The measuring is @fastify/under-pressure's (event-loop delay averaged over a second, heap in
 * use). Its default answer would refuse every route, so its global handler lets every request
 * through, and only routes whose config says `shed: true` get the shedding handler.
 */
import underPressure from '@fastify/under-pressure'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { DomainError } from '../domain/errors'

export interface SheddingOptions {
  /** Mean event-loop delay in ms past which shedding starts; 0: never. */
  readonly eventLoopDelayMs: number
  /** Heap in use, MiB, past which shedding starts; 0: never. */
  readonly heapMiB: number
  /** Counts each request shed, by route and by what was over its bound. */
  readonly onShed: (route: string, reason: string) => void
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

export async function registerLoadShedding (app: FastifyInstance, opts: SheddingOptions): Promise<void> {
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
