/**
 * The allocation policies and the choice of one per sale. Inside the sale area; the rest of the
 * code reaches them through src/sale/index.ts.
 */
import type { SaleEvent } from '../../shared/sale-event'
import { firstCome } from './first-come'
import { firstComeWithWaitlist } from './waitlist'
import { randomStart } from './random-start'
import { drawSale } from './draw-sale'
import type { AllocationPolicy } from './policy'

export type { AllocationPolicy } from './policy'
export { firstCome } from './first-come'
export { firstComeWithWaitlist, leaveWaitlist, onWaitlist, standing } from './waitlist'
export { commitmentOf, draw, drawKey, newDrawSeed, newEntryId } from './draw'
export { randomStart, entrantTicket } from './random-start'
export { drawSale } from './draw-sale'
export { placeAtStart, StartPlacement } from './start-placement'
export type { PlacementDeps, PlacementState } from './start-placement'
export type { DrawResult } from './draw'
export type { WaitlistDeps } from './waitlist'

/** The policy of a sale, from its `mode` and `entry` (the defaults when the row predates them). */
export function policyFor (event: Pick<SaleEvent, 'mode' | 'entry' | 'waitlist'>): AllocationPolicy {
  const mode = event.mode ?? 'first_come'
  const entry = event.entry ?? 'on_start'
  if (mode === 'first_come' && entry === 'on_start') return event.waitlist === true ? firstComeWithWaitlist : firstCome
  if (mode === 'first_come' && entry === 'random_at_start' && event.waitlist !== true) return randomStart
  // A draw is stored as a randomized start with a waitlist (draw-sale.ts); the catalog sets both.
  if (mode === 'draw' && entry === 'random_at_start' && event.waitlist === true) return drawSale
  throw new Error(`no allocation policy for mode ${String(mode)} with entry ${String(entry)}`)
}
