/**
 * Another request racing a caller between its reads. The events repository is where the sale's
 * repairs (rebuild, reconciler) and edits read MySQL: a proxy of it runs `action` right before its
 * k-th call, so whatever runs there -- a cancel, a payment deadline, a worker's warm-up, an admin's
 * edit -- lands between two of the caller's awaits (test/helpers/intercept.ts).
 */
import type { EventsRepository } from '../../src/domain/events'
import { beforeCall } from '../helpers/intercept'

export interface Race {
  readonly events: EventsRepository
  /** Runs the action now if the caller never reached the k-th call. */
  readonly settle: () => Promise<void>
}

export function racing (events: EventsRepository, k: number, action: () => Promise<void>): Race {
  const { proxy, settle } = beforeCall(events, () => true, k, action)
  return { events: proxy, settle }
}
