/**
 * What the dispatcher does for sales that are over: units that come back to them after their
 * drains gave them up (a deadline or a cancel after the end), and retiring a sale once every
 * ticket is decided, so Redis memory returns to its baseline.
 *
 * Late returns are applied under the shard's lease taken for them, so I6 holds after the end. A
 * sale must never be retired while a drain of any worker still holds one of its shards (it would
 * write to the removed queues), and no key of a sale that has expired from Redis is written anew
 * without an expiry.
 */
import { Queue } from 'bullmq'
import type { Knex } from 'knex'
import type { Logger } from 'pino'
import type { Config } from '../src/config'
import type { RedisClient } from '../src/redis/scripts'
import { QUEUE_NAME, allShardKeys, shardTag } from '../src/redis/keys'
import type { KeySpace } from '../src/redis/keys'
import type { SaleEvent } from '../src/shared/sale-event'
import { announceRetired, applyLateReturns, lateReturnShards, markApplied, pendingReturns } from '../src/stock'

interface SalesOverDeps {
  readonly config: Config
  readonly redis: RedisClient
  readonly db: Knex
  readonly keys: KeySpace
  readonly log: Logger
}

/**
 * Units that came back to sales over and given up by their drains, applied under the shard's
 * lease taken for it (`owner`), skipping shards this worker owns. A retired sale's keys keep their
 * expiry (the keys the lease touches get it again). Stops between shards once `stopping()`.
 */
export async function applyReturnsAfterTheEnd (deps: SalesOverDeps, owner: string, owns: (tag: string) => boolean, stopping: () => boolean): Promise<void> {
  const { redis, keys, config, log } = deps
  for (const ref of await lateReturnShards(deps.db, config.endGraceMs)) {
    if (stopping()) return
    if (owns(shardTag(ref))) continue
    // A retired sale's keys expire (whichever worker retired it): the ones taking the lease
    // writes anew get the same time left.
    const ttl = await redis.ttl(keys.shard(ref).stock)
    if (ttl === -2) {
      // The sale's state has expired from Redis (past the retention) or was lost after the end:
      // there is no stock left to put the unit back in, and nothing to sell it to. Accounted as
      // applied, without writing keys that would never expire.
      // The signal the return raised goes first: once the returns read applied, no key of the
      // sale is left (a crash between the two leaves the rows pending, found again next round).
      await redis.del(keys.shard(ref).returnsDue)
      await markApplied(deps.db, (await pendingReturns(deps.db, ref)).map((r) => r.id))
      continue
    }
    const applied = await applyLateReturns(deps, ref, ref.shards, owner, config.leaseMs)
    if (applied === undefined) continue
    if (ttl > 0) {
      for (let shard = 0; shard < ref.shards; shard++) {
        const r = { eventId: ref.eventId, shard }
        await Promise.all([...allShardKeys(keys.shard(r)), ...Object.values(keys.waitlist(r))].map(async (key) => await redis.expire(key, ttl)))
      }
    }
    log.info({ shard: shardTag(ref), returned: applied.returned }, 'units that came back after the sale ended applied')
  }
}

/**
 * An event over and fully decided: its queues are removed and its keys expire after the
 * retention time (tickets stay readable until then). Added to `finished` once retired; left as it
 * is while a drain of another worker still holds a shard (the next round tries again).
 */
export async function retireEvent (deps: SalesOverDeps, event: SaleEvent, finished: Set<number>): Promise<void> {
  const { redis, keys, config, log } = deps
  const ttl = config.retentionSeconds
  // A drain of another worker may still hold a shard: wait for the next round.
  for (let shard = 0; shard < event.shards; shard++) {
    if (await redis.exists(keys.shard({ eventId: event.id, shard }).lease) === 1) return
  }
  for (let shard = 0; shard < event.shards; shard++) {
    const ref = { eventId: event.id, shard }
    await Promise.all([...allShardKeys(keys.shard(ref)), ...Object.values(keys.waitlist(ref))].map(async (key) => await redis.expire(key, ttl)))
    const queue = new Queue(QUEUE_NAME, { connection: redis, prefix: keys.queuePrefix(ref) })
    queue.on('error', (err) => log.warn({ err, eventId: event.id }, 'queue error while retiring'))
    try {
      await queue.obliterate({ force: true })
    } finally {
      await queue.close()
    }
  }
  await redis.expire(keys.event(event.id).soldOut, ttl)
  finished.add(event.id)
  // Every ingress lets go of what it kept for the sale (queue objects, the cached row, final tickets).
  await announceRetired(deps, event.id)
  log.info({ eventId: event.id, ttlSeconds: ttl }, 'event retired: queues removed, keys expire')
}
