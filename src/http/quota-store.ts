/**
 * A store for @fastify/rate-limit that keeps every limit exact across processes while asking Redis
 * once per block of requests instead of once per request.
 *
 * The Redis counter of a key counts requests *reserved* in the window (lua/reserveQuota). A process
 * reserves a block -- a tenth of the limit, 1 to 50 requests -- and admits that many requests of
 * the key from memory. So all processes together never admit more than `max` in a window. The
 * cost of the saving: requests a process reserved and did not use are lost when the window ends,
 * so a client whose requests are spread over several processes may be refused a little early
 * (never late). A buyer's keep-alive connection sticks to one process, so this is rare.
 *
 * A buyer polling a final ticket is answered from the ingress's memory; with this store the
 * rate limit no longer costs that poll a Redis round trip either, most of the time.
 */
import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit'
import { reserveQuota } from '../redis/commands'
import type { RedisClient } from '../redis/scripts'

interface Block {
  /** The next request number in hand, and the last one. */
  next: number
  readonly last: number
  /** When the window ends, by this process's clock (taken before asking, so never late). */
  readonly windowEnd: number
}

type Callback = Parameters<FastifyRateLimitStore['incr']>[1]

/** A key's block in hand, and the requests waiting while a reservation is on its way. */
interface KeyState {
  block: Block | undefined
  readonly waiting: Callback[]
  reserving: boolean
}

/** What the plugin passes `child` at run time (its typings name other fields). */
interface RouteParams { readonly routeInfo?: { readonly method?: string, readonly url?: string } }

/** Keys remembered per store; the oldest go first. */
const MAX_KEYS = 100_000

export function blockSize (max: number): number {
  return Math.max(1, Math.min(50, Math.floor(max / 10)))
}

/** The store class to hand @fastify/rate-limit (`store` option), over the product's Redis. */
export function quotaStore (redis: RedisClient, namespace: string): FastifyRateLimitStoreCtor {
  class QuotaStore implements FastifyRateLimitStore {
    private readonly keys = new Map<string, KeyState>()

    /** The plugin constructs the store with its options; children carry their route's prefix. */
    constructor (_options?: unknown, private readonly prefix = namespace) {}

    incr (key: string, cb: Callback, timeWindow: number, max: number): void {
      const full = this.prefix + key
      let state = this.keys.get(full)
      const block = state?.block
      const now = Date.now()
      if (block !== undefined && now < block.windowEnd && block.next <= block.last) {
        cb(null, { current: block.next++, ttl: block.windowEnd - now })
        return
      }
      if (state === undefined) {
        state = { block: undefined, waiting: [], reserving: false }
        this.keys.set(full, state)
        if (this.keys.size > MAX_KEYS) {
          const oldest = this.keys.keys().next().value
          if (oldest !== undefined) this.keys.delete(oldest)
        }
      }
      // Requests arriving while a reservation is on its way wait for it: one round trip serves a
      // burst, and no block is reserved only to be dropped.
      state.waiting.push(cb)
      if (!state.reserving) this.reserve(full, state, timeWindow, max)
    }

    private reserve (full: string, state: KeyState, timeWindow: number, max: number): void {
      state.reserving = true
      const asked = Date.now()
      reserveQuota(redis, full, max, Math.max(blockSize(max), state.waiting.length), timeWindow).then((r) => {
        state.reserving = false
        if (r.granted === 0) {
          state.block = undefined
          for (const cb of state.waiting.splice(0)) cb(null, { current: max + 1, ttl: r.ttlMs })
          return
        }
        const block: Block = { next: r.after - r.granted + 1, last: r.after, windowEnd: asked + r.ttlMs }
        state.block = block
        while (state.waiting.length > 0 && block.next <= block.last) {
          (state.waiting.shift() as Callback)(null, { current: block.next++, ttl: r.ttlMs })
        }
        if (state.waiting.length > 0) this.reserve(full, state, timeWindow, max)
      }, (err: unknown) => {
        state.reserving = false
        for (const cb of state.waiting.splice(0)) cb(err instanceof Error ? err : new Error(String(err)))
      })
    }

    child (routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): QuotaStore {
      const route = (routeOptions as unknown as RouteParams).routeInfo
      return new QuotaStore(undefined, `${this.prefix}${route?.method ?? ''}${route?.url ?? ''}-`)
    }
  }
  return QuotaStore
}
