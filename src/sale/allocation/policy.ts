/**
 * The allocation policy: how a sale's units go to its buyers, between admission (a buy becomes a
 * ticket) and the drain (a shard's tickets are decided). The sale picks one per event from the
 * operator's setting (`mode`, `entry`); the checks every buy passes first (window, verified email,
 * the ingress's sold-out memory) stay in admission.ts and apply to every policy.
 *
 * A policy must never write the stock: units move only through the stock module's owner
 * (src/stock). It decides who gets a ticket and in which order the drain meets them.
 */
import type { SaleEvent } from '../../shared/sale-event'
import type { AllocationMode, EntryMode } from '../../shared/allocation'
import type { AdmissionDeps, Buyer, BuyOutcome } from '../admission-deps'

export interface AllocationPolicy {
  readonly mode: AllocationMode
  readonly entry: EntryMode
  /** Buyers turned away wait on a list for units that come back (waitlist.ts). */
  readonly waitlist: boolean
  /**
   * The order in which the drain decides a shard's tickets. `queue_position`: the admission
   * order of the shard (FIFO per shard, I4), which the drain (workers/) implements today.
   */
  readonly drainOrder: 'queue_position'
  /**
   * When buys are first taken (ms): the start, unless the policy takes them earlier (a randomized
   * start's lead window). Absent: the start.
   */
  readonly opensAt?: (event: SaleEvent) => number
  /**
   * Turns the buy of an open sale into a ticket: queued, the buyer's existing ticket, or one born
   * final. Called once the common checks passed; throws DomainError for refusals (ban, rate
   * limit, token). `now`: the time admission judged the window by.
   */
  admit: (deps: AdmissionDeps, event: SaleEvent, buyer: Buyer, buyToken: string | undefined, now: number) => Promise<BuyOutcome>
}
