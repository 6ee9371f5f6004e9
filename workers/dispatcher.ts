/**
 * The worker process's dispatcher: finds live events, warms their shards, takes shard leases (an
 * even share among the live workers), runs a drainer per owned shard on a shared piscina pool, and
 * hands shards back on shutdown so another worker continues at once.
 *
 * Each round (tick) is a list of named steps, below. A round must never take a shard it has not
 * warmed first, never retire a sale while one of its drains runs, and never keep a stopping worker
 * waiting longer than the event it is looking at.
 */
import { DrainBreaker } from './drain-breaker'
import { FailoverWatch } from './failover-watch'
import type { BreakerSettings, BreakerState } from './drain-breaker'
import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import type Piscina from 'piscina'
import type { RedisClient } from '../src/redis/scripts'
import type { EventsRepository } from '../src/catalog'
import type { SaleEvent } from '../src/shared/sale-event'
import { changedAnything, eventDecided, reconcileEvent, warmEvent } from '../src/stock'
import { shardTag } from '../src/redis/keys'
import type { ShardRef } from '../src/redis/keys'
import { OwnedShards } from './owned-shards'
import type { OwnedShardsDeps } from './owned-shards'
import { openDrainThreads, warmDrainThreads } from './drain-threads'
import { applyReturnsAfterTheEnd, retireEvent } from './sales-over'
import { DrainWaker } from './drain-waker'
import { duplicateNamed } from '../src/redis/client'

/** Shards of events starting within this window are warmed and owned ahead of the start. */
const START_HORIZON_MS = 60_000
/** How far back ended events are looked at for undecided tickets (each is retired once decided). */
const LOOKBACK_MS = 7 * 86_400_000

/** What the dispatcher passes on to its owned shards, and what it needs beside. */
interface DispatcherDeps extends Pick<OwnedShardsDeps, 'config' | 'redis' | 'db' | 'keys' | 'log' | 'onBatch' | 'onLeaseMove'> {
  /** Duplicated for the one subscriber connection that wakes idle drains (retries without limit). */
  readonly bullConnection: RedisClient
  readonly events: EventsRepository
  readonly onBreakerState?: (state: BreakerState) => void
  readonly onBatchFailure?: () => void
  /** Told when a shard was reset after a Redis Cluster failover. */
  readonly onShardReset?: () => void
  /** The breaker's thresholds (tests shorten them). */
  readonly breaker?: BreakerSettings
}

/** A shard of a live event. */
interface LiveShard {
  readonly ref: ShardRef
  readonly event: SaleEvent
}

export class Dispatcher {
  readonly token = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  readonly pool: Piscina
  /** One subscriber connection for every owned shard's idle wait. */
  private readonly waker: DrainWaker
  /** Parks every drain of the process while Redis or MySQL fail, until a probe answers. */
  readonly breaker: DrainBreaker
  /** On a Redis Cluster: notices failovers under live shards. */
  private readonly failovers: FailoverWatch | undefined
  private readonly owned: OwnedShards
  /** Events over and fully decided, whose keys were set to expire (not looked at again). */
  private readonly finished = new Set<number>()
  /** Events this process has reconciled (once each, when it first sees them). */
  private readonly reconciled = new Set<number>()
  private tickTimer: NodeJS.Timeout | undefined
  private renewTimer: NodeJS.Timeout | undefined
  private ticking: Promise<void> | undefined
  private stopping = false
  /** Distinct drain threads that finished warming at start (tests, the start log). */
  warmThreads = 0

  constructor (private readonly deps: DispatcherDeps) {
    const { config } = deps
    const threads = openDrainThreads(config)
    this.pool = threads.pool
    this.waker = new DrainWaker(duplicateNamed(deps.bullConnection, deps.keys.drainWakeConnection), deps.log)
    this.failovers = config.redisClusterNodes.length > 0 ? new FailoverWatch(deps.redis, deps.keys) : undefined
    this.breaker = new DrainBreaker({
      probe: async () => { await Promise.all([deps.redis.ping(), deps.db.raw('SELECT 1')]) },
      log: deps.log,
      onState: deps.onBreakerState,
      onFailure: deps.onBatchFailure
    }, deps.breaker)
    // The drainers run their stages on the threads' stage pool: one stage per thread at a time.
    this.owned = new OwnedShards({ ...deps, owner: this.token, waker: this.waker, stages: threads.stages, breaker: this.breaker })
  }

  /** Depth of every owned shard's line, for the metrics gauges. */
  async shardDepths (): Promise<Array<{ shard: string, pending: number, backlog: number, lagSeconds: number, stock: number }>> {
    return await this.owned.depths()
  }

  /** Owned shards whose drain waits for work (tags), for tests and operators. */
  idleShards (): string[] {
    return this.owned.idle()
  }

  /**
   * Warms every drain thread (modules loaded, connections open), then starts the rounds. No shard
   * is taken before: a thread boots in hundreds of milliseconds on a loaded machine, and a worker
   * that took leases first held its shards' first batch that long (measured: bench:drain, the first
   * round's first stage waited 170-230 ms for a thread). The process reports ready after this.
   * A thread that fails to warm (MySQL slow) is logged, not waited for: its first stage opens its
   * connections itself.
   */
  async start (): Promise<void> {
    const { config } = this.deps
    this.warmThreads = await warmDrainThreads(this.pool, config.workerThreads, this.deps.log)
    if (this.stopping) return
    this.tickTimer = setInterval(() => { void this.tick() }, config.discoveryMs)
    this.renewTimer = setInterval(() => { void this.owned.renew() }, Math.max(100, Math.floor(config.leaseMs / 3)))
    void this.tick()
  }

  /** One round: heartbeat, discover events, warm them, take or give back shards. */
  async tick (): Promise<void> {
    if (this.ticking !== undefined || this.stopping) return
    this.ticking = this.doTick()
      .catch((err: unknown) => this.deps.log.error({ err }, 'dispatcher round failed'))
      .finally(() => { this.ticking = undefined })
    await this.ticking
  }

  private async doTick (): Promise<void> {
    const now = Date.now()
    const alive = await this.heartbeat(now)
    const found = await this.liveShards(now)
    if (found === undefined) return
    const { live, decided } = found
    await this.resetFailedOver(live)
    // Shards of events that are over and decided, or whose drain stopped (lease lost): give back.
    await this.owned.giveBackAllBut(live)
    // Only then retire decided events: a drain still running would write to the removed queues.
    for (const event of decided) await retireEvent(this.deps, event, this.finished)
    const target = Math.ceil(live.size / alive)
    await this.takeShare(live, target)
    await applyReturnsAfterTheEnd(this.deps, this.token, (tag) => this.owned.has(tag), () => this.stopping)
    await this.owned.tellReturnsDue()
    // More than a fair share (a worker joined): hand one back per round, so shards move gently.
    if (this.owned.size > target) await this.owned.giveBackNewest()
  }

  /** This worker's heartbeat; resolves to how many workers are alive (itself included). */
  private async heartbeat (now: number): Promise<number> {
    const { redis, keys, config } = this.deps
    await redis.zadd(keys.workers, now, this.token)
    await redis.zremrangebyscore(keys.workers, 0, now - config.leaseMs * 3)
    return Math.max(1, await redis.zcount(keys.workers, now - config.leaseMs * 3, '+inf'))
  }

  /**
   * The shards to drain (by tag) and the events over and fully decided (to retire). An event seen
   * for the first time is reconciled first. Undefined when the worker started stopping meanwhile.
   */
  private async liveShards (now: number): Promise<{ live: Map<string, LiveShard>, decided: SaleEvent[] } | undefined> {
    const { config } = this.deps
    const events = await this.deps.events.listLive(new Date(now), START_HORIZON_MS, LOOKBACK_MS)
    const live = new Map<string, LiveShard>()
    const decided: SaleEvent[] = []
    for (const event of events) {
      // A stopping worker waits for this round: leave it between events, not after all of them
      // (reconciling every live event a new worker sees took past SHUTDOWN_TIMEOUT_MS in a bench).
      if (this.stopping) return undefined
      if (this.finished.has(event.id)) continue
      // After the end grace (END_GRACE_MS), shards stay owned for as long as any admitted ticket
      // is undecided: a sale is never left with queued tickets (I3).
      if (event.endAt.getTime() + config.endGraceMs < now) {
        if (await eventDecided(this.deps, event)) {
          decided.push(event)
          continue
        }
      } else if (!this.reconciled.has(event.id)) {
        this.reconciled.add(event.id)
        const report = await reconcileEvent(this.deps, event)
        if (changedAnything(report)) this.deps.log.warn({ report }, 'Redis had drifted from MySQL; repaired')
      }
      for (let shard = 0; shard < event.shards; shard++) {
        const ref = { eventId: event.id, shard }
        live.set(shardTag(ref), { ref, event })
      }
    }
    return { live, decided }
  }

  /** On a Redis Cluster: shards whose node changed (a failover) are forgotten and rebuilt now. */
  private async resetFailedOver (live: Map<string, LiveShard>): Promise<void> {
    if (this.failovers === undefined) return
    const { log } = this.deps
    // A check that fails (the cluster failing over right now) is tried again next round; it
    // must not hold up the rest of the round (taking shards, giving them back).
    const reset = await this.failovers.check([...live.values()].map((l) => l.ref)).catch((err: unknown) => {
      log.warn({ err }, 'looking for Redis Cluster failovers failed; trying again next round')
      return []
    })
    for (const ref of reset) {
      log.warn({ shard: shardTag(ref) }, 'the shard\'s Redis node changed (a failover): reset, rebuilding it from MySQL')
      this.deps.onShardReset?.()
    }
    for (const eventId of new Set(reset.map((r) => r.eventId))) {
      const event = [...live.values()].find((l) => l.ref.eventId === eventId)?.event
      if (event !== undefined) await warmEvent(this.deps, event, this.deps.events)
    }
  }

  /**
   * Takes live shards nobody holds, up to `target` owned, each with a drainer started. Shards are
   * warmed (rebuilt after a Redis loss) before they are taken, not every round: an owned shard
   * whose keys were lost loses its lease key with them, its renewal is refused, and it is given
   * back and taken again -- warmed first -- in a later round.
   */
  private async takeShare (live: Map<string, LiveShard>, target: number): Promise<void> {
    const warmed = new Set<number>()
    for (const [tag, { ref, event }] of live) {
      if (this.owned.size >= target || this.stopping) break
      if (this.owned.has(tag)) continue
      if (!warmed.has(event.id)) {
        warmed.add(event.id)
        await warmEvent(this.deps, event, this.deps.events)
      }
      await this.owned.take(tag, ref, event, target)
    }
  }

  /** Stops taking work, finishes the batches in flight, gives every shard back, closes the pool. */
  async stop (): Promise<void> {
    this.stopping = true
    this.breaker.stop()
    clearInterval(this.tickTimer)
    clearInterval(this.renewTimer)
    await this.ticking
    await this.owned.giveBackAll()
    await this.deps.redis.zrem(this.deps.keys.workers, this.token).catch(() => undefined)
    await this.waker.close()
    await this.pool.close()
  }
}
