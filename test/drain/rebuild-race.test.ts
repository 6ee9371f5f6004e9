// Regression (every writer is its owner, scenario 1): two rebuilds at once with a cancel between
// their order reads. On a 2-shard sale with stock 4 and X's order holding a unit of shard 0, Redis
// loses both shards; rebuild P1 reads X live (3 left, split [2,1], X held in shard 0); X cancels;
// rebuild P2 reads X cancelled (4 left, split [2,2]); P2 warms shard 0 and P1 warms shard 1, each
// first writer winning its shard. Redis held 3 free units where MySQL had 4, and X's return found
// nothing held (I5, I6). Rebuilds of an event now run one at a time under the event's row lock,
// which a cancel needs too, and each warms only under its own rebuild fence.
import t from 'tap'
import type { Redis } from 'ioredis'
import { clearEvent, warmEvent } from '../../src/stock/sale-state'
import type { SaleHistory } from '../../src/stock/sale-state'
import { scriptCommand } from '../../src/redis/scripts'
import { cancelOrder } from '../../src/orders/order-lifecycle'
import { auditSale } from '../../src/sale/invariant-audit'
import { until } from '../helpers/sale'
import { gate } from '../helpers/intercept'
import { buy, buyersOf, expectAudit, orderOf, setup, takeShard } from '../helpers/shard-owner'
import type { TestEnv } from '../helpers/env'

/** Statements of this test's database updating the event row that have not finished. */
async function eventUpdatesRunning (env: TestEnv): Promise<number> {
  const rows = await env.db.raw(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST
    WHERE DB = DATABASE() AND COMMAND = 'Query' AND INFO LIKE 'update \`seckill_events\`%'`) as [Array<{ n: number | string }>]
  return Number(rows[0][0]?.n ?? 0)
}

/** Waits until `p` settles or its update of the event row waits (for the rebuild's lock). */
async function settledOrBlocked (env: TestEnv, p: Promise<unknown>): Promise<'settled' | 'blocked'> {
  let settled = false
  p.then(() => { settled = true }, () => { settled = true })
  await until(async () => settled || await eventUpdatesRunning(env) > 0, 20_000, 'the cancel to commit or wait for the event row')
  return settled ? 'settled' : 'blocked'
}

t.test('two rebuilds with a cancel between their order reads: every unit counted once', async (t) => {
  const { env, http, eventId, service } = await setup(t, 4, 2)
  const events = service.runtime.events
  // X wins a unit of shard 0.
  const [x] = buyersOf(0, 2, 3000, 1)
  const xPos = await buy(t, http, env, eventId, x as number)
  const owner = await takeShard(env, eventId, 'w0', 0, 2)
  t.same((await owner.batch([xPos])).outcomes.map((o) => o.status), ['won'], 'X wins shard 0\'s unit')
  const xTicket = `${eventId}-0-${xPos}`
  const xOrder = Number(await orderOf(env, xTicket))

  await clearEvent(env, { id: eventId, shards: 2 })
  const event = await events.findById(eventId)
  if (event === undefined) throw new Error('event gone')

  // P1 stops right after reading the orders (X live).
  const p1Read = gate()
  const p1Go = gate()
  const p1History: SaleHistory = {
    ...events,
    orderTickets: async (...args: Parameters<typeof events.orderTickets>) => {
      const rows = await events.orderTickets(...args)
      p1Read.open()
      await p1Go.wait
      return rows
    }
  }
  const p1 = warmEvent(env, event, p1History)
  await p1Read.wait

  // X cancels while P1 holds its reading.
  const cancel = cancelOrder(service.runtime.lifecycle, xOrder, { userId: String(x), isAdmin: false })
  const cancelled = await settledOrBlocked(env, cancel).catch((err: unknown) => { p1Go.open(); throw err })
  t.comment(`the cancel ${cancelled === 'settled' ? 'committed at once' : 'waits for the rebuild'}`)

  // P2 runs, and its warm-up of shard 1 is held until P1 has gone through.
  const p2Shard1 = gate()
  const shard1Stock = env.keys.shard({ eventId, shard: 1 }).stock
  const warmCmd = scriptCommand('warmShard')
  const held = new Proxy(env.redis, {
    get (target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown
      if (prop !== warmCmd || typeof value !== 'function') return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value
      return async (...args: unknown[]) => {
        // runScript passes KEYS then ARGV as one array.
        const firstKey = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0]
        if (firstKey === shard1Stock) await p2Shard1.wait
        return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)
      }
    }
  }) as Redis
  // P2 goes as far as it can: its warm-up of shard 1 (the code before the fix), or the rebuild
  // lock P1 holds.
  let p2Locking = false
  const p2History: SaleHistory = {
    ...events,
    nextRebuildFence: async (id) => {
      p2Locking = true // the fence is taken on the event's row too, right before the lock
      return await events.nextRebuildFence(id)
    }
  }
  const p2 = warmEvent({ redis: held, keys: env.keys }, event, p2History)
  try {
    await until(async () => p2Locking || await env.redis.exists(env.keys.shard({ eventId, shard: 0 }).stock) === 1,
      20_000, 'P2 to warm shard 0 or ask for the rebuild lock')
  } finally {
    // P1 goes through first, so the code before the fix warmed shard 1 from P1's reading; P2's
    // warm-up of shard 1 comes after it.
    p1Go.open()
    await p1.finally(() => { p2Shard1.open() })
  }
  await p2
  await cancel

  // X's return, if the cancel recorded one, is applied by its shard's owner.
  const heir0 = await takeShard(env, eventId, 'h0', 0, 2)
  const heir1 = await takeShard(env, eventId, 'h1', 1, 2)
  await heir0.applyReturns()
  await heir1.applyReturns()
  const [s0, s1] = await Promise.all([0, 1].map(async (shard) => Number(await env.redis.get(env.keys.shard({ eventId, shard }).stock))))
  const i6 = (await auditSale(env.db, env.redis, env.keys, eventId)).checks.find((c) => c.id === 'I6')
  t.comment(`free units after both rebuilds and X's return: [${s0}, ${s1}]`)
  t.ok(i6?.ok, `I6 once the return is applied: ${i6?.detail ?? ''}`)

  // Six buyers take every unit, no more.
  const crowd = [...buyersOf(0, 2, 4000, 3), ...buyersOf(1, 2, 5000, 3)]
  const positions = await Promise.all(crowd.map(async (u) => await buy(t, http, env, eventId, u)))
  const won = [
    ...(await heir0.batch(positions.slice(0, 3))).outcomes,
    ...(await heir1.batch(positions.slice(3))).outcomes
  ].filter((o) => o.status === 'won').length
  t.equal(won, 4, 'all four units are sold to the crowd')
  await expectAudit(t, env, eventId)
})
