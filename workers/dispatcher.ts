/**
 * The worker process's dispatcher: finds live events, warms their shards, takes shard leases (an
 * even share among the live workers), runs a drainer per owned shard on a shared piscina pool, and
 * hands shards back on shutdown so another worker continues at once.
 */
import { DrainBreaker } from './drain-breaker'
import { FailoverWatch } from './failover-watch'
import type { BreakerSettings, BreakerState } from './drain-breaker'
import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import Piscina from 'piscina'
import type { RedisClient } from '../src/redis/scripts'
import type { Logger } from 'pino'
import type { Config } from '../src/config'
import type { EventsRepository, SaleEvent } from '../src/domain/events'
import { Queue } from 'bullmq'
import { announceRetired, eventDecided, warmEvent } from '../src/domain/sale-state'
import { changedAnything, reconcileEvent } from '../src/domain/reconciler'
import { shardsWithPendingReturns } from '../src/domain/unit-returns'
import { QUEUE_NAME, allShardKeys, shardTag } from '../src/redis/keys'
import type { KeySpace, ShardRef } from '../src/redis/keys'
import { repoPath } from '../src/util/paths'
import { acquireLease, releaseLease, renewLease } from '../src/domain/shard-lease'
import type { Lease } from '../src/domain/shard-lease'
import type { Knex } from 'knex'
import { ShardDrainer } from './shard-drainer'
import type { BatchReport } from './shard-drainer'
import type { DrainThreadData } from './drain-task'
import { StagePool, createStartStamps } from './stage-pool'
import { DrainWaker } from './drain-waker'
import { duplicateNamed } from '../src/redis/client'

/** Shards of events starting within this window are warmed and owned ahead of the start. */
const START_HORIZON_MS = 60_000
/** How far back ended events are looked at for undecided tickets (each is retired once decided). */
const LOOKBACK_MS = 7 * 86_400_000

export interface DispatcherDeps {
  readonly config: Config
  readonly redis: RedisClient
  /** MySQL, for the shards' fencing tokens (taking a lease raises one). */
  readonly db: Knex
  /** Duplicated for the one subscriber connection that wakes idle drains (retries without limit). */
  readonly bullConnection: RedisClient
  readonly keys: KeySpace
  readonly events: EventsRepository
  readonly log: Logger
  readonly onBatch?: (report: BatchReport) => void
  readonly onLeaseMove?: (move: 'taken' | 'given_back' | 'lost') => void
  readonly onBreakerState?: (state: BreakerState) => void
  readonly onBatchFailure?: () => void
  /** Told when a shard was reset after a Redis Cluster failover. */
  readonly onShardReset?: () => void
  /** The breaker's thresholds (tests shorten them). */
  readonly breaker?: BreakerSettings
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

export class Dispatcher {
  readonly token = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  readonly pool: Piscina
  /** The pool as every drainer runs its stages on it: one stage per thread at a time. */
  private readonly stages: StagePool
  /** One subscriber connection for every owned shard's idle wait. */
  private readonly waker: DrainWaker
  /** Parks every drain of the process while Redis or MySQL fail, until a probe answers. */
  readonly breaker: DrainBreaker
  /** On a Redis Cluster: notices failovers under live shards. */
  private readonly failovers: FailoverWatch | undefined
  private readonly owned = new Map<string, Owned>()
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
    const startStamps = createStartStamps(config.workerThreads)
    const workerData: DrainThreadData = {
      redisUrl: config.redisUrl,
      redisClusterNodes: [...config.redisClusterNodes],
      redisPrefix: config.redisPrefix,
      databaseUrl: config.databaseUrl,
      faultPoint: config.faultPoint,
      paymentTimeoutMs: config.paymentTimeoutMs,
      tracing: config.tracing,
      startStamps
    }
    this.pool = new Piscina({
      filename: repoPath('dist', 'workers', 'drain-task.js'),
      minThreads: config.workerThreads,
      maxThreads: config.workerThreads,
      // Threads wait on sockets, not on the pool: let their event loops run between tasks.
      atomics: 'disabled',
      idleTimeout: Number.POSITIVE_INFINITY,
      workerData
    })
    this.stages = new StagePool(this.pool, config.workerThreads, startStamps)
    this.waker = new DrainWaker(duplicateNamed(deps.bullConnection, deps.keys.drainWakeConnection), deps.log)
    this.failovers = config.redisClusterNodes.length > 0 ? new FailoverWatch(deps.redis, deps.keys) : undefined
    this.breaker = new DrainBreaker({
      probe: async () => { await Promise.all([deps.redis.ping(), deps.db.raw('SELECT 1')]) },
      log: deps.log,
      onState: deps.onBreakerState,
      onFailure: deps.onBatchFailure
    }, deps.breaker)
  }

  /** Depth of every owned shard's line, for the metrics gauges. */
  async shardDepths (): Promise<Array<{ shard: string, pending: number, backlog: number, lagSeconds: number, stock: number }>> {
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

  /** Owned shards whose drain waits for work (tags), for tests and operators. */
  idleShards (): string[] {
    return [...this.owned.entries()].filter(([, o]) => o.drainer.isIdle).map(([tag]) => tag)
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
    const started = performance.now()
    const barrier = new Int32Array(new SharedArrayBuffer(8))
    barrier[1] = config.workerThreads
    const warmed = await Promise.allSettled(Array.from({ length: config.workerThreads }, async () => await this.pool.run(barrier, { name: 'warm' }) as number))
    for (const w of warmed) if (w.status === 'rejected') this.deps.log.warn({ err: w.reason }, 'warming a drain thread failed')
    this.warmThreads = new Set(warmed.flatMap((w) => w.status === 'fulfilled' ? [w.value] : [])).size
    this.deps.log.info({ threads: this.warmThreads, ms: Math.round(performance.now() - started) }, 'drain threads warm')
    if (this.stopping) return
    this.tickTimer = setInterval(() => { void this.tick() }, config.discoveryMs)
    this.renewTimer = setInterval(() => { void this.renew() }, Math.max(100, Math.floor(config.leaseMs / 3)))
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
    const { redis, keys, config, log } = this.deps
    const now = Date.now()
    await redis.zadd(keys.workers, now, this.token)
    await redis.zremrangebyscore(keys.workers, 0, now - config.leaseMs * 3)
    const alive = Math.max(1, await redis.zcount(keys.workers, now - config.leaseMs * 3, '+inf'))

    const events = await this.deps.events.listLive(new Date(now), START_HORIZON_MS, LOOKBACK_MS)
    const live = new Map<string, { ref: ShardRef, event: SaleEvent }>()
    const decided: SaleEvent[] = []
    for (const event of events) {
      // A stopping worker waits for this round: leave it between events, not after all of them
      // (reconciling every live event a new worker sees took past SHUTDOWN_TIMEOUT_MS in a bench).
      if (this.stopping) return
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

    // On a Redis Cluster: shards whose node changed (a failover) are forgotten and rebuilt now.
    if (this.failovers !== undefined) {
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

    // Shards of events that are over and decided, or whose drain stopped (lease lost): give back.
    for (const [tag, o] of this.owned) {
      if (!live.has(tag) || !o.drainer.isRunning) await this.giveBack(tag)
    }
    // Only then retire decided events: a drain still running would write to the removed queues.
    for (const event of decided) await this.retire(event)

    const target = Math.ceil(live.size / alive)
    // Shards are warmed (rebuilt after a Redis loss) before they are taken, not every round: an
    // owned shard whose keys were lost loses its lease key with them, its renewal is refused, and
    // it is given back and taken again -- warmed first -- in a later round.
    const warmed = new Set<number>()
    for (const [tag, { ref, event }] of live) {
      if (this.owned.size >= target || this.stopping) break
      if (this.owned.has(tag)) continue
      if (!warmed.has(event.id)) {
        warmed.add(event.id)
        await warmEvent(this.deps, event, this.deps.events)
      }
      const lease = await acquireLease(redis, this.deps.db, keys, ref, event.shards, this.token, config.leaseMs)
      if (lease === undefined) continue
      const drainer = new ShardDrainer(ref, event.shards, lease, {
        redis,
        db: this.deps.db,
        waker: this.waker,
        keys,
        pool: this.stages,
        settings: config,
        log,
        breaker: this.breaker,
        onBatch: this.deps.onBatch
      })
      this.owned.set(tag, { ref, lease, drainer, endAt: event.endAt.getTime(), renewedAt: Date.now(), quiet: false })
      drainer.start()
      this.deps.onLeaseMove?.('taken')
      log.info({ shard: tag, owned: this.owned.size, target }, 'shard taken')
    }
    // Units that came back to owned shards whose flag was lost (Redis down after the commit).
    if (this.owned.size > 0) {
      const owned = [...new Set([...this.owned.values()].map((o) => o.ref.eventId))]
      for (const ref of await shardsWithPendingReturns(this.deps.db, owned)) this.owned.get(shardTag(ref))?.drainer.notifyReturns()
    }
    // More than a fair share (a worker joined): hand one back per round, so shards move gently.
    if (this.owned.size > target) {
      const [tag] = [...this.owned.keys()].slice(-1)
      if (tag !== undefined) await this.giveBack(tag)
    }
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

  /**
   * An event over and fully decided: its queues are removed and its keys expire after the
   * retention time (tickets stay readable until then), so Redis memory returns to its baseline.
   */
  private async retire (event: SaleEvent): Promise<void> {
    const { redis, keys, config, log } = this.deps
    const ttl = config.retentionSeconds
    // A drain of another worker may still hold a shard: wait for the next round.
    for (let shard = 0; shard < event.shards; shard++) {
      if (await redis.exists(keys.shard({ eventId: event.id, shard }).lease) === 1) return
    }
    for (let shard = 0; shard < event.shards; shard++) {
      const ref = { eventId: event.id, shard }
      await Promise.all(allShardKeys(keys.shard(ref)).map(async (key) => await redis.expire(key, ttl)))
      const queue = new Queue(QUEUE_NAME, { connection: redis, prefix: keys.queuePrefix(ref) })
      queue.on('error', (err) => log.warn({ err, eventId: event.id }, 'queue error while retiring'))
      try {
        await queue.obliterate({ force: true })
      } finally {
        await queue.close()
      }
    }
    await redis.expire(keys.event(event.id).soldOut, ttl)
    this.finished.add(event.id)
    // Every ingress lets go of what it kept for the sale (queue objects, the cached row, final tickets).
    await announceRetired(this.deps, event.id)
    log.info({ eventId: event.id, ttlSeconds: ttl }, 'event retired: queues removed, keys expire')
  }

  /**
   * Renews the leases, every third of LEASE_MS; a quiet shard's (its drain idle for two LEASE_MS
   * with no stock of its own left, or its sale over) every third of LEASE_QUIET_MS, with that
   * time. A quiet shard that gets work is renewed with LEASE_MS at the next call.
   */
  private async renew (): Promise<void> {
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

  /** Stops taking work, finishes the batches in flight, gives every shard back, closes the pool. */
  async stop (): Promise<void> {
    this.stopping = true
    this.breaker.stop()
    clearInterval(this.tickTimer)
    clearInterval(this.renewTimer)
    await this.ticking
    await Promise.all([...this.owned.keys()].map(async (tag) => await this.giveBack(tag)))
    await this.deps.redis.zrem(this.deps.keys.workers, this.token).catch(() => undefined)
    await this.waker.close()
    await this.pool.close()
  }
}
