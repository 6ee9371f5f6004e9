import type { AllocationMode, EntryMode } from './allocation'

/**
 * A sale event as MySQL has it (`seckill_events`): the shape every area reads. The catalog owns
 * its rows (src/catalog/events.ts); the stock module and the sale read it.
 */
export interface SaleEvent {
  readonly id: number
  readonly productId: number
  readonly title: string
  /** The sale's own text for buyers (plain text); null or absent when there is none. */
  readonly description?: string | null
  readonly priceCents: number
  readonly stock: number
  readonly sold: number
  readonly shards: number
  readonly startAt: Date
  readonly endAt: Date
  /** Buyers need a buy token (issued shortly before the start) to buy. */
  readonly requireToken: boolean
  /** Only buyers whose access token says their email is verified may buy (false when absent). */
  readonly requireVerifiedEmail?: boolean
  /** How units go to buyers (src/sale/allocation/); first_come when absent. */
  readonly mode?: AllocationMode
  /** How buyers enter the sale; on_start when absent. */
  readonly entry?: EntryMode
  /** random_at_start: how long before the start buyers may enter (DEFAULT_LEAD_MS when absent). */
  readonly leadMs?: number
  /** random_at_start: SHA-256 of the secret seed that orders the lead window's buyers (hex). */
  readonly startCommitment?: string | null
  /** Buyers turned away wait on a list for units that come back (false when absent). */
  readonly waitlist?: boolean
  /**
   * Buys need a solved proof-of-work challenge of this difficulty (the largest counter the page
   * may try; src/sale/proof-of-work.ts); off when null or absent.
   */
  readonly powMaxNumber?: number | null
  /** When the sale's state first went into Redis; null until then. */
  readonly warmedAt: Date | null
  /** Since when an operator holds the sale (no drain decides its tickets); null or absent while it runs. */
  readonly pausedAt?: Date | null
  /** The operator's message to everyone in line (plain text); null or absent when there is none. */
  readonly lineMessage?: string | null
  /** When the message was set, on MySQL's clock. */
  readonly lineMessageAt?: Date | null
}
