/**
 * Another request racing a caller between its reads. The events repository is where the sale's
 * repairs (rebuild, reconciler) and edits read MySQL: a proxy of it runs `action` right before its
 * k-th call, so whatever runs there -- a cancel, a payment deadline, a worker's warm-up, an admin's
 * edit -- lands between two of the caller's awaits. k comes from the simulation's seeded random
 * source, so the interleaving replays with the seed. When the caller makes fewer than k + 1 calls
 * the action runs after it (`settle`).
 */
import type { EventsRepository } from '../../src/domain/events'

export interface Race {
  readonly events: EventsRepository
  /** Runs the action now if the caller never reached the k-th call. */
  readonly settle: () => Promise<void>
}

export function racing (events: EventsRepository, k: number, action: () => Promise<void>): Race {
  let calls = 0
  let ran = false
  const run = async (): Promise<void> => {
    if (ran) return
    ran = true
    await action()
  }
  const proxy = new Proxy(events, {
    get (target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver)
      if (typeof value !== 'function') return value
      return async (...args: unknown[]) => {
        if (calls++ === k) await run()
        return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)
      }
    }
  })
  return { events: proxy, settle: run }
}
