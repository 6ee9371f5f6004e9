/**
 * What admission needs and answers, apart from admission.ts so the allocation policies
 * (src/sale/allocation/) can name them without an import cycle.
 */
import type { Logger } from 'pino'
import type { KeySpace } from '../redis/keys'
import type { RedisClient } from '../redis/scripts'
import type { BuyRateLimit, ProofSpend } from '../redis/commands'
import type { EventsRepository } from '../catalog'
import type { EventCache } from './event-cache'
import type { SoldOutAnswers } from './sold-out-answers'
import type { TicketView } from './tickets'

export interface AdmissionDeps {
  readonly redis: RedisClient
  readonly keys: KeySpace
  readonly events: EventCache
  readonly repo: EventsRepository
  readonly overbook: number
  /** A buyer's buys per window of one event, counted by the admission script. */
  readonly rateLimit: BuyRateLimit
  readonly log: Logger
  /** Confirms in Redis the sold-out answers the local flag suggests, before they are given. */
  readonly soldOutAnswers: SoldOutAnswers
  /** On a Redis Cluster: a shard found on another node than it was warmed on is reset and rebuilt. */
  readonly cluster?: boolean
  /** Told when a shard was reset after a failover (metrics). */
  readonly onShardReset?: () => void
  /** Told how long each admission script took, in seconds (metrics). */
  readonly onAdmitTime?: (seconds: number) => void
  /** The proof-of-work signing key (src/sale/proof-of-work.ts); a sale that needs proofs cannot be bought without it. */
  readonly powKey?: string
  /** Told the answer of every buy that got one (metrics). */
  readonly onOutcome?: (outcome: 'queued' | 'existing' | 'sold_out' | 'sold_out_local' | 'banned' | 'rate_limited') => void
}

export type BuyOutcome =
  /** The ticket was created now and waits in line (HTTP 202). */
  | { readonly kind: 'queued', readonly ticket: TicketView }
  /** The answer is an existing or born-final ticket (HTTP 200). */
  | { readonly kind: 'final', readonly ticket: TicketView }

/** Who buys: the id, and whether the access token says the email is verified (a bare id: not). */
export interface Buyer {
  readonly id: string
  readonly emailVerified?: boolean
  /** The buy's X-Proof-Of-Work header as sent (read only for a sale that needs a proof). */
  readonly proofOfWork?: string
  /** Set by admission for a sale that needs a proof: the checked proof, or null when none was sent. */
  readonly proof?: ProofSpend | null
}
