/**
 * The shards this worker owns, each with its lease and its drainer. Taking a shard starts its
 * drain; giving one back stops the drain after its batches in flight and releases the lease, so
 * another worker continues at once; the leases are renewed every third of LEASE_MS (a quiet
 * shard's less often). The dispatcher decides which shards to take and give back; this only
 * keeps them. A shard whose lease renewal is refused must never keep draining.
 */
import type { Knex } from 'knex'
import type { Logger } from 'pino'
import type { Config } from '../src/config'
import type { RedisClient } from '../src/redis/scripts'
import { shardTag } from '../src/redis/keys'
import type { KeySpace, ShardRef } from '../src/redis/keys'
import type { SaleEvent } from '../src/shared/sale-event'
import { acquireLease, releaseLease, renewLease, shardsWithPendingReturns } from '../src/stock'
import { StartPlacement } from '../src/sale'
import type { PlacementDeps } from '../src/sale'
import type { Lease } from '../src/stock'
import { ShardDrainer } from './drain/shard-drainer'
import { HeldSales } from './drain/held-sales'
import type { BatchReport } from './drain/shard-drainer'
import type { DrainBreaker } from './drain-breaker'
import type { DrainWaker } from './drain-waker'
import type { StagePool } from './stage-pool'

/**
 * A batch about to launch asks whether its sale is held, answered from a read at most this old:
 * a pause takes hold within this plus one read (and the batches already in flight), at a cost of
 * at most one MySQL read of every drained sale's row this often, and none while all are idle.
 */
const HELD_LOOK_MS = 100

export interface OwnedShardsDeps {
  readonly config: Config
  readonly redis: RedisClient
  /** MySQL, for the shards' fencing tokens (taking a lease raises one). */
  readonly db: Knex
  readonly keys: KeySpace
  readonly log: Logger
  /** Who takes the leases: the dispatcher's token. */
  readonly owner: string
  /** What every drainer shares: the idle drains' doorbells, the threads, the breaker. */
  readonly waker: DrainWaker
  readonly stages: StagePool
  readonly breaker: DrainBreaker
  readonly onBatch?: (report: BatchReport) => void
  readonly onLeaseMove?: (move: 'taken' | 'given_back' | 'lost') => void
  /**
   * Whether an operator holds a sale, from its row in MySQL (the catalog's events repository), and
   * what a randomized start's placement reads and records there.
   */
  readonly events: { readonly heldAmong: (ids: readonly number[]) => Promise<Set<number>> } & PlacementDeps['events']
}

interface Owned {
  readonly ref: ShardRef
  readonly lease: Lease
  readonly drainer: ShardDrainer
  /** When the sale ends (ms): after it only returned units bring work. */
  readonly endAt: number
  /** When the lease was last renewed (ms), and whether with the quiet lease time. */
  renewedAt: number
  quiet: boolean
}

export class OwnedShards {
  private readonly owned = new Map<string, Owned>()
  /** Every drain's answer to "is the sale held?": one MySQL read for all of them (held-sales.ts). */
  private readonly held: HeldSales

  constructor (private readonly deps: OwnedShardsDeps) {
    this.held = new HeldSales(async (ids) => await deps.events.heldAmong(ids), deps.log, HELD_LOOK_MS)
  }

  get size (): number {
    return this.owned.size
  }

  has (tag: string): boolean {
    return this.owned.has(tag)
  }

  /**
   * Takes the shard's lease if nobody holds it, and starts its drain. `target`: the fair share,
   * for the log.
   */
  async take (tag: string, ref: ShardRef, event: SaleEvent, target: number): Promise<void> {
    const { redis, keys, config, log } = this.deps
    const lease = await acquireLease(redis, this.deps.db, keys, ref, event.shards, this.deps.owner, config.leaseMs)
    if (lease === undefined) return
    const drainer = new ShardDrainer(ref, event.shards, lease, {
      redis,
      db: this.deps.db,
      waker: this.deps.waker,
      keys,
      pool: this.deps.stages,
      settings: config,
      log,
      breaker: this.deps.breaker,
      isHeld: async (eventId) => await this.held.isHeld(eventId),
      // A randomized start: the owner places the lead window's buyers at the start, before any job.
      ...(event.entry === 'random_at_start' ? { placement: (r: ShardRef, token: string) => new StartPlacement({ redis, keys, events: this.deps.events }, r, token) } : {}),
      onBatch: this.deps.onBatch
    })
    this.owned.set(tag, { ref, lease, drainer, endAt: event.endAt.getTime(), renewedAt: Date.now(), quiet: false })
    // A waitlist's first buyer may wait on units the last owner held for them in its memory only
    // (a look again once the line ahead is decided): a new owner looks at once.
    if (event.waitlist === true) drainer.notifyReturns()
    drainer.start()
    this.deps.onLeaseMove?.('taken')
    log.info({ shard: tag, owned: this.owned.size, target }, 'shard taken')
  }

  /** Gives back the shards not in `live`, and those whose drain stopped (lease lost). */
  async giveBackAllBut (live: ReadonlyMap<string, unknown>): Promise<void> {
    for (const [tag, o] of this.owned) {
      if (!live.has(tag) || !o.drainer.isRunning) await this.giveBack(tag)
    }
  }

  /** Gives back the shard taken last (one more than a fair share). */
  async giveBackNewest (): Promise<void> {
    const [tag] = [...this.owned.keys()].slice(-1)
    if (tag !== undefined) await this.giveBack(tag)
  }

  /** Gives back every shard at once (stopping). */
  async giveBackAll (): Promise<void> {
    await Promise.all([...this.owned.keys()].map(async (tag) => await this.giveBack(tag)))
  }

  private async giveBack (tag: string): Promise<void> {
    const o = this.owned.get(tag)
    if (o === undefined) return
    this.owned.delete(tag)
    await o.drainer.stop()
    const released = await releaseLease(this.deps.redis, this.deps.keys.shard(o.ref), o.lease.token)
    this.deps.onLeaseMove?.(released ? 'given_back' : 'lost')
    this.deps.log.info({ shard: tag }, 'shard given back')
  }

  /** Units that came back to owned shards whose flag was lost (Redis down after the commit). */
  async tellReturnsDue (): Promise<void> {
    if (this.owned.size === 0) return
    const owned = [...new Set([...this.owned.values()].map((o) => o.ref.eventId))]
    for (const ref of await shardsWithPendingReturns(this.deps.db, owned)) this.owned.get(shardTag(ref))?.drainer.notifyReturns()
  }

  /**
   * Renews the leases, every third of LEASE_MS; a quiet shard's (its drain idle for two LEASE_MS
   * with no stock of its own left, or its sale over) every third of LEASE_QUIET_MS, with that
   * time. A quiet shard that gets work is renewed with LEASE_MS at the next call.
   */
  async renew (): Promise<void> {
    const { redis, keys, config, log } = this.deps
    const now = Date.now()
    await Promise.all([...this.owned.values()].map(async (o) => {
      const idleFor = 2 * config.leaseMs
      const quiet = o.drainer.isQuiet(now, idleFor) || (o.endAt < now && o.drainer.isIdle)
      if (quiet && o.quiet && now - o.renewedAt < config.leaseQuietMs / 3) return
      try {
        const ms = quiet ? Math.max(config.leaseQuietMs, config.leaseMs) : config.leaseMs
        if (await renewLease(redis, keys.shard(o.ref), o.lease.token, ms)) {
          o.renewedAt = now
          o.quiet = quiet
        } else {
          log.warn({ shard: shardTag(o.ref) }, 'lease renewal refused; stopping the shard drain')
          this.deps.onLeaseMove?.('lost')
          this.owned.delete(shardTag(o.ref))
          await o.drainer.stop()
        }
      } catch (err) {
        log.warn({ err, shard: shardTag(o.ref) }, 'lease renewal failed')
      }
    }))
  }

  /** Depth of every owned shard's line, for the metrics gauges. */
  async depths (): Promise<Array<{ shard: string, pending: number, backlog: number, lagSeconds: number, stock: number }>> {
    const now = Date.now()
    return await Promise.all([...this.owned.values()].map(async (o) => {
      const k = this.deps.keys.shard(o.ref)
      const [pending, qseq, drained, stock] = await Promise.all([this.deps.redis.get(k.pending), this.deps.redis.get(k.qseq), this.deps.redis.get(k.drained), this.deps.redis.get(k.stock)])
      const oldest = o.drainer.oldestWaitingSince()
      return {
        shard: `e${o.ref.eventId}.${o.ref.shard}`,
        pending: Number(pending ?? 0),
        backlog: Math.max(0, Number(qseq ?? 0) - Number(drained ?? 0)),
        lagSeconds: oldest === undefined ? 0 : Math.max(0, (now - oldest) / 1000),
        stock: Number(stock ?? 0)
      }
    }))
  }

  /** Owned shards whose drain waits for work (tags). */
  idle (): string[] {
    return [...this.owned.entries()].filter(([, o]) => o.drainer.isIdle).map(([tag]) => tag)
  }
}
