// Regression (stock ownership): the lease token was one per process, so a process whose drain had
// lost a shard and taken it again ran the old drain's stages under the same token; and the order
// write checked no lease at all, so an owner that stalled after reserving committed orders for
// tickets its successor had already decided. A takeover now raises a fencing number that the
// token carries and the order write checks in MySQL.
import t from 'tap'
import { loadConfig } from '../../src/config'
import { acquireLease } from '../../src/stock/shard-lease'
import { finishBatch, reserveBatch, writeBatch } from '../../workers/drain-batch'
import { lockEvent } from '../../src/orders/order-write'
import type { DrainBatchInput, DrainDeps } from '../../workers/drain-batch'
import { auditSale } from '../../src/sale/invariant-audit'
import { testEnv } from '../helpers/env'
import { createSale, startTestService } from '../helpers/sale'
import { buy, buyersOf, expectAudit, orderOf, setup, takeShard } from '../helpers/shard-owner'
import { beforeCall } from '../helpers/intercept'
import { scriptCommand } from '../../src/redis/scripts'

t.test('an owner that stalls after reserving and wakes after a takeover (even by its own process) changes nothing', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock: 1 })
  for (const u of [701, 702]) {
    const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })
    t.equal(r.status, 202, `buyer ${u} queued`)
  }
  const ref = { eventId, shard: 0 }
  const k = env.keys.shard(ref)
  const deps: DrainDeps = { redis: env.redis, db: env.db, keys: env.keys, orderWrites: { paymentTimeoutMs: 600_000, consecutiveIds: true } }
  const input = (lease: { token: string, fence: number }): DrainBatchInput => ({ eventId, shard: 0, shards: 1, leaseToken: lease.token, fence: lease.fence, positions: [1, 2], rate: 0 })

  // The first drain reserves the unit for position 1, then stalls.
  const first = await acquireLease(env.redis, env.db, env.keys, ref, 1, 'worker-1', 60_000)
  if (first === undefined) throw new Error('no lease')
  const staleReservation = await reserveBatch(deps, input(first))
  t.equal(staleReservation.leaseLost, false)

  // Its lease expires; the same process takes the shard again, under a new token.
  await env.redis.del(k.lease)
  const second = await acquireLease(env.redis, env.db, env.keys, ref, 1, 'worker-1', 60_000)
  if (second === undefined) throw new Error('no lease')
  t.not(second.token, first.token, 'a takeover by the same process gets a new token')
  t.ok(second.fence > first.fence, 'with a higher fencing number')

  // The new drain decides the batch.
  const reservation = await reserveBatch(deps, input(second))
  const written = await writeBatch(deps, input(second), reservation)
  const result = await finishBatch(deps, input(second), reservation, written)
  t.same(result.outcomes.map((o) => o.status), ['won', 'sold_out'])

  // The stalled drain wakes up: its reserve, write and finish are all refused.
  t.equal((await reserveBatch(deps, input(first))).leaseLost, true, 'its reservation is refused')
  const staleWrite = await writeBatch(deps, input(first), staleReservation)
  t.equal(staleWrite.leaseLost, true, 'its order write is refused in MySQL')
  t.equal((await finishBatch(deps, input(first), staleReservation, staleWrite)).leaseLost, true, 'and it writes no outcome')
  const orders = await env.db('orders').where({ event_id: eventId }).select('ticket_id')
  t.same(orders.map((o: { ticket_id: string }) => o.ticket_id), [`${eventId}-0-1`], 'one order, for the ticket the current owner decided')

  await env.redis.del(k.lease)
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  for (const c of audit.checks) t.ok(c.ok, `${c.id}: ${c.detail}`)
})

t.test('a stale write that began before the takeover commits first; the takeover waits for it', async (t) => {
  const env = await testEnv(t)
  const [productId] = await env.db('products').insert({ title: 'p', price_cents: 100 }) as number[]
  const [eventId] = await env.db('seckill_events').insert({ product_id: productId, title: 'e', price_cents: 90, stock: 5, start_at: new Date(), end_at: new Date(Date.now() + 3_600_000) }) as number[]
  const ref = { eventId: eventId as number, shard: 0 }
  const k = env.keys.shard(ref)
  const first = await acquireLease(env.redis, env.db, env.keys, ref, 1, 'w', 60_000)
  if (first === undefined) throw new Error('no lease')
  // A write transaction of the first owner has made its locking read (the event and the fence) ...
  const trx = await env.db.transaction()
  t.equal(Number((await lockEvent(trx, ref.eventId, { shard: 0, fence: first.fence }))?.fence), first.fence)
  await env.redis.del(k.lease)
  // ... so the takeover's raise waits until it ends.
  let raised = false
  const takeover = acquireLease(env.redis, env.db, env.keys, ref, 1, 'w', 60_000).then((l) => { raised = true; return l })
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.equal(raised, false, 'the takeover waits for the write in flight')
  await trx.commit()
  const second = await takeover
  t.ok(second !== undefined && second.fence === first.fence + 1, 'then takes the shard with the next number')
})

t.test('a stale owner that stalls between its own stock and a borrow, and resumes after a takeover and a return, takes no unit and writes no order', async (t) => {
  const { env, http, eventId } = await setup(t, 2, 2) // one unit in each shard
  const [a, b] = buyersOf(0, 2, 1300, 2) as [number, number]
  const [c] = buyersOf(1, 2, 1400, 1) as [number]
  const qa = await buy(t, http, env, eventId, a)
  const qb = await buy(t, http, env, eventId, b)
  const qc = await buy(t, http, env, eventId, c)
  const stale = await takeShard(env, eventId, 'w0', 0, 2)
  const other = await takeShard(env, eventId, 'w1', 1, 2)
  t.same((await stale.batch([qa])).outcomes.map((o) => o.status), ['won'])
  t.same((await other.batch([qc])).outcomes.map((o) => o.status), ['won'], 'the stock is sold')

  // The owner of shard 0 reserves for b (its own stock is empty) and stalls before borrowing.
  // Meanwhile: its lease runs out, a new owner decides b (sold out), and c cancels: a unit comes
  // back to shard 1, applied by its owner.
  const stalled = beforeCall(env.redis, (m) => m === scriptCommand('borrowStock'), 0, async () => {
    const heir = await takeShard(env, eventId, 'w2', 0, 2)
    t.same((await heir.batch([qb])).outcomes.map((o) => o.status), ['sold_out'], 'the new owner decides b: sold out')
    t.equal((await http.request('POST', `/api/v1/orders/${await orderOf(env, `${eventId}-1-${qc}`)}/cancel`, { token: env.token(c) })).status, 200, 'c cancels')
    t.match(await other.applyReturns(), { returned: 1 }, 'the unit is back in shard 1')
  }).proxy
  const deps: DrainDeps = { redis: stalled, db: env.db, keys: env.keys, orderWrites: { paymentTimeoutMs: 600_000, consecutiveIds: true } }
  const input: DrainBatchInput = { eventId, shard: 0, shards: 2, leaseToken: stale.lease.token, fence: stale.lease.fence, positions: [qb], rate: 0 }
  const reservation = await reserveBatch(deps, input)
  t.equal(reservation.leaseLost, true, 'the stalled owner\'s reservation is refused when it resumes')
  const written = await writeBatch(deps, input, reservation)
  t.same(await env.db('orders').where({ ticket_id: `${eventId}-0-${qb}` }).select('id'), [], 'no order for b')
  t.equal((await finishBatch(deps, input, reservation, written)).leaseLost, true)

  t.same(await env.redis.hkeys(env.keys.shard({ eventId, shard: 1 }).reserved), [], 'shard 1 holds nothing for b: the returned unit is free')
  const d = buyersOf(1, 2, 1500, 1)[0] as number
  const qd = await buy(t, http, env, eventId, d)
  t.same((await other.batch([qd])).outcomes.map((o) => o.status), ['won'], 'the next buyer wins the returned unit')
  await env.redis.del(env.keys.shard({ eventId, shard: 0 }).lease)
  await expectAudit(t, env, eventId)
})
