// Regression (every writer is its owner, scenario 2): a reconciler that stalls past its lease. It
// took every lease of the event, read the shards' stock, and stalled before counting the units
// held; its leases ran out, a worker took the shard and reserved a unit for a new buyer; the
// reconciler then counted that reservation beside the stock it had read before it, and applied
// -1: Redis one unit short of MySQL, later buyers told sold out (I5, I6). The reconciler now reads
// each shard once (stock and reservations together), renews its leases just before it writes, and
// writes only through a script that checks its lease there.
import t from 'tap'
import type { Redis } from 'ioredis'
import { reconcileEvent } from '../../src/stock/reconciler'
import { scriptCommand } from '../../src/redis/scripts'
import { buy, expectAudit, setup, takeShard } from '../helpers/shard-owner'
import type { Owner } from '../helpers/shard-owner'
import type { Reservation } from '../../workers/drain-batch'
import type { Test } from '../helpers/tap-types'

/**
 * `redis` whose first call of any of `methods` runs `action` first; with `key`, only a call whose
 * first argument is that key counts (other HLENs, such as a draw's entrants in eventDecided, run
 * before the reconciler reads any shard).
 */
function stallBefore (redis: Redis, methods: readonly string[], action: () => Promise<void>, key?: string): Redis {
  let ran = false
  return new Proxy(redis, {
    get (target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown
      if (typeof value !== 'function') return value
      const fn = value as (...a: unknown[]) => Promise<unknown>
      if (typeof prop !== 'string' || !methods.includes(prop)) return fn.bind(target)
      return async (...args: unknown[]) => {
        if (!ran && (prop !== 'hlen' || key === undefined || args[0] === key)) {
          ran = true
          await action()
        }
        return await fn.apply(target, args)
      }
    }
  }) as Redis
}

async function reconcileWithStall (t: Test, stock: number, methods: readonly string[], drift = 0): Promise<void> {
  const { env, http, eventId, service } = await setup(t, stock)
  const first = await buy(t, http, env, eventId, 7001)
  const owner = await takeShard(env, eventId, 'w1')
  t.same((await owner.batch([first])).outcomes.map((o) => o.status), ['won'], 'the first buyer wins; the sale is at rest')
  await env.redis.del(env.keys.shard({ eventId, shard: 0 }).lease) // that owner is gone
  if (drift !== 0) await env.redis.incrby(env.keys.shard({ eventId, shard: 0 }).stock, drift) // units counted twice

  // While the reconciler stalls, its leases run out; a worker takes the shard and reserves a unit
  // for a buyer who arrived meanwhile.
  let worker: Owner | undefined
  let second = 0
  let reservation: Reservation | undefined
  const stalled = stallBefore(env.redis, methods, async () => {
    await env.redis.del(env.keys.shard({ eventId, shard: 0 }).lease)
    second = await buy(t, http, env, eventId, 7002)
    worker = await takeShard(env, eventId, 'w2')
    reservation = await worker.reserve([second])
  }, env.keys.shard({ eventId, shard: 0 }).reserved)
  const event = await service.runtime.events.findById(eventId)
  if (event === undefined) throw new Error('event gone')
  const report = await reconcileEvent({ redis: stalled, keys: env.keys, db: env.db, events: service.runtime.events }, event)
  t.ok(worker !== undefined && reservation !== undefined, 'the worker reserved while the reconciler stalled')
  t.equal(report.stockAdjusted, 0, 'the stalled reconciler changed no stock')
  if (worker === undefined || reservation === undefined) return

  t.same((await worker.finish([second], reservation, await worker.write([second], reservation))).outcomes.map((o) => o.status), ['won'], 'the worker\'s buyer wins')
  if (drift !== 0) {
    // The drift the stalled run could not repair is repaired by the next run, once no one drains.
    await env.redis.del(env.keys.shard({ eventId, shard: 0 }).lease)
    const again = await reconcileEvent({ redis: env.redis, keys: env.keys, db: env.db, events: service.runtime.events }, event)
    t.equal(again.stockAdjusted, -drift, 'the next run takes the units counted twice away')
    worker = await takeShard(env, eventId, 'w3')
  }
  // Every unit left is still sold.
  const rest = await Promise.all(Array.from({ length: stock }, async (_, i) => await buy(t, http, env, eventId, 7100 + i)))
  const won = (await worker.batch(rest)).outcomes.filter((o) => o.status === 'won').length
  t.equal(won, stock - 2, `the other ${stock - 2} units are sold`)
  await expectAudit(t, env, eventId)
}

t.test('the reconciler stalls between reading the stock and counting the held units', async (t) => {
  await reconcileWithStall(t, 3, ['hlen', scriptCommand('renewLease')])
})

t.test('the reconciler stalls after renewing its leases, right before its write', async (t) => {
  await reconcileWithStall(t, 3, [scriptCommand('repairShard')], 2)
})
