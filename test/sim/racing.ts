/**
 * Another request racing a caller between its reads. The events repository is where the sale's
 * repairs (rebuild, reconciler) and edits read MySQL: a proxy of it runs `action` right before its
 * k-th call, so whatever runs there -- a cancel, a payment deadline, a worker's warm-up, an admin's
 * edit -- lands between two of the caller's awaits (test/helpers/intercept.ts).
 *
 * A rebuild reads under the event's row lock (`underRebuildLock`), which a cancel, an expiry, an
 * edit and another rebuild need too: an action drawn inside it is started there and runs on once
 * the lock is let go, as it would in another process (awaiting it there would wait for itself).
 * Its outcome does not depend on timing: whatever it does to the event waits for the lock.
 */
import type { EventsRepository } from '../../src/catalog/events'

export interface Race {
  readonly events: EventsRepository
  /** Runs the action now if the caller never reached the k-th call, and waits for it. */
  readonly settle: () => Promise<void>
}

export function racing (events: EventsRepository, k: number, action: () => Promise<void>): Race {
  let calls = 0
  let started: Promise<void> | undefined
  let locked = 0
  const start = (): Promise<void> => {
    started ??= action()
    return started
  }
  const proxy = new Proxy(events, {
    get (target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function') return value
      const method = value as (...a: unknown[]) => Promise<unknown>
      if (prop === 'underRebuildLock') {
        return async (id: number, fn: (...a: unknown[]) => Promise<unknown>) => {
          if (calls++ === k) await start()
          return await method.call(target, id, async (...a: unknown[]) => {
            locked++
            try { return await fn(...a) } finally { locked-- }
          })
        }
      }
      return async (...args: unknown[]) => {
        if (calls++ === k) {
          if (locked > 0) void start().catch(() => undefined)
          else await start()
        }
        return await method.apply(target, args)
      }
    }
  })
  return { events: proxy, settle: async () => { await start() } }
}
