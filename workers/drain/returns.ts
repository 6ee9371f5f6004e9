/**
 * Units that come back to a shard (a cancel, an expiry, a winner who had an order already, the
 * reconciler, a rebuild) are recorded in MySQL where they happen (unit_returns) with a signal in
 * Redis, and the shard's owner applies them between its batches (src/stock applyDueReturns). This
 * part of the drain knows when returns are due -- the doorbell rang, the dispatcher found some in
 * MySQL, a return that waited for its ticket is due again, or the shard's signal in Redis says so
 * -- and applies them.
 *
 * The drain must never apply returns with a batch in flight: it lands every batch first, so the new
 * FIFO epoch starts after the last position decided and no reservation made before the return is
 * in use. And it must not poll Redis for them on every turn: the signal is looked at every
 * RETURNS_CHECK_MS only, to cover a ring lost otherwise.
 */
import type { Knex } from 'knex'
import type { Logger } from 'pino'
import type { RedisClient } from '../../src/redis/scripts'
import type { KeySpace, ShardKeys, ShardRef } from '../../src/redis/keys'
import { applyDueReturns } from '../../src/stock'
import type { Doorbell } from '../drain-waker'

/**
 * How often a busy loop looks at the shard's returns signal in Redis (an EXISTS). Returns ring the
 * shard's doorbell, which the loop reads between batches for free, and after the doorbell's
 * subscriber reconnects the loop looks at once; this look only covers a ring lost otherwise. At
 * 50 ms it was the worker's most frequent Redis command in the many-drops crowd (bench:many, 50
 * sales: 4 EXISTS per admitted buy, about 2,000 a second from the main thread).
 */
const RETURNS_CHECK_MS = 1000
/** How soon a return whose ticket was still undecided is looked at again. */
const RETURNS_RETRY_MS = 200

interface ReturnsDeps {
  readonly redis: RedisClient
  /** MySQL, for the units that came back (unit_returns). */
  readonly db: Knex
  readonly keys: KeySpace
  readonly log: Logger
}

export class ShardReturns {
  /** Units came back (unit_returns) or a sibling reopened: apply between batches. */
  private due = false
  private checkedAt = 0
  /** A return waits for its ticket's batch: looked at again from this time (ms), or after a landing. */
  private retryAt: number | undefined
  private readonly k: ShardKeys

  constructor (
    private readonly deps: ReturnsDeps,
    private readonly ref: ShardRef,
    private readonly shards: number,
    private readonly leaseToken: string
  ) {
    this.k = deps.keys.shard(ref)
  }

  /** Returns are due here (told by the dispatcher, which looks in MySQL once per round). */
  notify (): void {
    this.due = true
  }

  /** Whether returns are due now (the doorbell's news is taken here). */
  async pending (doorbell: Doorbell | undefined): Promise<boolean> {
    if (doorbell?.takeReturns() === true) this.due = true
    if (this.due) return true
    if (doorbell?.takeMissed() === true) this.checkedAt = 0
    const now = Date.now()
    if (this.retryAt !== undefined && now >= this.retryAt) {
      this.retryAt = undefined
      this.due = true
      return true
    }
    if (now - this.checkedAt < RETURNS_CHECK_MS) return false
    this.checkedAt = now
    this.due = await this.deps.redis.exists(this.k.returnsDue) === 1
    return this.due
  }

  /** Applies the units that came back to this shard; call with no batch in flight. Resolves to how many. */
  async apply (): Promise<number | 'lease_lost'> {
    this.due = false
    // When a unit came back, the applier has told the siblings already (no hint needed here).
    const outcome = await applyDueReturns(this.deps, this.ref, this.shards, this.leaseToken)
    if (outcome.leaseLost) return 'lease_lost'
    // Looked at again after the next landing, or soon (the ticket may be a sibling's); the
    // drain goes on meanwhile, since the batch that decides the ticket may be this shard's.
    if (outcome.waiting > 0) this.retryAt = Date.now() + RETURNS_RETRY_MS
    if (outcome.returned > 0) this.deps.log.info({ shard: this.k.tag, returned: outcome.returned }, 'units came back to the sale')
    return outcome.returned
  }

  /** A batch landed: a return waiting for its ticket is looked at again now. */
  landed (): void {
    if (this.retryAt !== undefined) this.retryAt = 0
  }

  /** How long an idle wait may last before a waiting return is due again (ms; infinite when none waits). */
  msToRetry (): number {
    return this.retryAt === undefined ? Number.POSITIVE_INFINITY : Math.max(0, this.retryAt - Date.now())
  }
}
