/**
 * What a shard's drain tells its sibling shards of a multi-shard sale: how many units it could
 * lend (stock − pending, read now), and the free units a batch saw at siblings while borrowing.
 * Their gates count these to admit buyers that borrowing can serve.
 *
 * The free units of a shard only shrink (bar a unit given back), so a value read earlier overstates
 * them: a gate may admit a few buyers too many (they lose in FIFO order) but never turns buyers
 * away too early. A hint goes every FREE_HINT_MS at most, so gates do not over-admit for long while
 * a batch is slow -- and only when something moved since the last one: an idle or sold-out shard
 * has no timer at all. A hint must never hold the drain up (it runs on its own timer, and a failed
 * one is only logged and sent again), and none is sent for a single-shard sale or a stopped drain.
 */
import type { Logger } from 'pino'
import type { RedisClient } from '../../src/redis/scripts'
import type { KeySpace, ShardKeys, ShardRef } from '../../src/redis/keys'
import { shareFreeUnits } from '../../src/stock'

/** How often a multi-shard drain tells its siblings how many units it could lend. */
const FREE_HINT_MS = 50

interface HintDeps {
  readonly redis: RedisClient
  readonly keys: KeySpace
  readonly log: Logger
}

export class SiblingHints {
  private timer: NodeJS.Timeout | undefined
  private hinting = false
  /** Stock or pending may have moved since the last hint (jobs taken, a batch landed). */
  private moved = true
  private readonly k: ShardKeys

  constructor (
    private readonly deps: HintDeps,
    private readonly ref: ShardRef,
    private readonly shards: number,
    /** Whether the drain still runs: a stopped one sends nothing. */
    private readonly running: () => boolean
  ) {
    this.k = deps.keys.shard(ref)
  }

  /** Stock or pending may have moved: siblings hear of it within FREE_HINT_MS. */
  unitsHaveMoved (): void {
    this.moved = true
    this.arm()
  }

  /** Records the free units a batch saw at siblings while borrowing (fresher than their hints). */
  async recordSeen (siblingsFree: ReadonlyArray<readonly [number, number]>): Promise<void> {
    await Promise.all(siblingsFree.map(async ([s, f]) => await this.deps.redis.hset(this.k.peers, String(s), f)))
  }

  /** The drain stops: no hint is pending any more. */
  stop (): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private async share (): Promise<void> {
    if (this.hinting || !this.running() || !this.moved) return
    this.moved = false
    this.hinting = true
    try {
      await shareFreeUnits(this.deps, { id: this.ref.eventId, shards: this.shards }, this.ref.shard)
    } catch (err) {
      this.moved = true
      this.deps.log.warn({ err, shard: this.k.tag }, 'sharing free units failed')
    } finally {
      this.hinting = false
      // Moved again meanwhile (or the hint failed): one more, after the interval.
      if (this.moved) this.arm()
    }
  }

  private arm (): void {
    if (this.shards <= 1 || !this.running() || this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.share()
    }, FREE_HINT_MS)
  }
}
