/** The drain's order write against the real MySQL, on both ways of learning the new orders' ids. */
import t from 'tap'
import { probeConsecutiveIds } from '../../src/orders/order-rows'
import { writeOrders as writeFenced } from '../../src/orders/order-write'
import type { OrderWriteSettings, Winner, WriteResult } from '../../src/orders/order-rows'
import { raiseFence } from '../../src/db/shard-fences'
import { createDb } from '../../src/db/knex'
import type { Test } from '../helpers/tap-types'
import type { Knex } from 'knex'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'

async function event (env: TestEnv, stock: number): Promise<number> {
  const [productId] = await env.db('products').insert({ title: 'p', price_cents: 100 }) as number[]
  const [eventId] = await env.db('seckill_events').insert({ product_id: productId, title: 'e', price_cents: 90, stock, start_at: new Date(), end_at: new Date(Date.now() + 3_600_000) }) as number[]
  return eventId as number
}

/** Writes as the shard's current owner (the fencing number raised for it now). */
async function writeOrders (db: Knex, eventId: number, winners: readonly Winner[], settings: OrderWriteSettings): Promise<Map<number, WriteResult>> {
  const fence = await raiseFence(db, { eventId, shard: 0 })
  const out = await writeFenced(db, eventId, winners, settings, { shard: 0, fence })
  if (out === 'lease_lost') throw new Error('the current owner was refused')
  return out
}

/**
 * The database handle to write with: the env's, which runs several statements a query as the
 * drain threads' does (the common case then goes the fast way, writeOrdersAtOnce), or a plain one
 * (every batch the careful way). Both must decide every case alike.
 */
function writerDb (t: Test, env: TestEnv, multi: boolean): Knex {
  if (multi) return env.db
  const db = createDb(env.config.databaseUrl, { poolMax: 2 })
  t.teardown(async () => await db.destroy())
  return db
}

const winner = (eventId: number, qpos: number, userId: number): Winner => ({ qpos, userId: String(userId), ticketId: `${eventId}-0-${qpos}`, unitShard: 0, freshUnit: true })

async function idsInMysql (env: TestEnv, eventId: number): Promise<Map<string, string>> {
  const rows = await env.db('orders').where({ event_id: eventId }).select('id', 'ticket_id') as Array<{ id: number, ticket_id: string }>
  return new Map(rows.map((r) => [r.ticket_id, String(r.id)]))
}

t.test('this MySQL hands a multi-row insert consecutive ids', async (t) => {
  const env = await testEnv(t)
  t.equal(await probeConsecutiveIds(env.db), true, 'MariaDB 10.11 defaults: innodb_autoinc_lock_mode 1, increment 1')
})

for (const [multi, consecutiveIds] of [[true, true], [true, false], [false, true], [false, false]] as const) {
  const settings = { paymentTimeoutMs: 600_000, consecutiveIds }
  const how = `${consecutiveIds ? 'ids from the insert' : 'ids looked up'}, ${multi ? 'several statements a query' : 'one statement a query'}`

  t.test(`${how}: each winner gets its own order; a replay finds them; a second ticket of a buyer does not`, async (t) => {
    const env = await testEnv(t)
    const db = writerDb(t, env, multi)
    const eventId = await event(env, 10)
    // Another event's orders in between, so ids are not simply 1..n.
    await writeOrders(db, await event(env, 5), [winner(99, 1, 7)], settings)
    const batch = [1, 2, 3].map((q) => winner(eventId, q, 100 + q))
    const first = await writeOrders(db, eventId, batch, settings)
    const stored = await idsInMysql(env, eventId)
    t.same(batch.map((w) => first.get(w.qpos)), batch.map((w) => ({ kind: 'won', orderId: stored.get(w.ticketId) })), 'each order id is the one MySQL stored for that ticket')

    // The replay finds its reservations from the first run; one ticket's unit was reserved anew
    // (its first holder lost it with Redis), another's is held in another shard than its order's
    // (an earlier run, cut short by a takeover, reserved it there after the order was written;
    // simulation seed 30598): those units go back, the orders stand.
    const replayed = batch.map((w) => ({ ...w, freshUnit: w.qpos === 3, unitShard: w.qpos === 2 ? 1 : 0 }))
    const replay = await writeOrders(db, eventId, replayed, settings)
    t.same(batch.map((w) => replay.get(w.qpos)), batch.map((w) => ({ ...first.get(w.qpos), existing: true, heldAt: 0 })), 'a replayed batch gets the same orders')
    const sold = async (): Promise<number> => (await env.db('seckill_events').first('sold').where({ id: eventId }) as { sold: number }).sold
    t.equal(await sold(), 3, 'and sells nothing twice')
    const returns = await env.db('unit_returns').select('ticket_id', 'shard', 'reason').where({ event_id: eventId }).orderBy('id') as Array<{ ticket_id: string, shard: number, reason: string }>
    t.same(returns, [{ ticket_id: `${eventId}-0-2`, shard: 1, reason: 'replayed' }, { ticket_id: `${eventId}-0-3`, shard: 0, reason: 'replayed' }], 'the unit reserved anew and the unit held elsewhere go back; the others stay held by their orders')

    const mixed = await writeOrders(db, eventId, [winner(eventId, 4, 104), winner(eventId, 5, 101)], settings)
    t.same(mixed.get(5), { kind: 'failed', reason: 'already_ordered' } satisfies WriteResult, 'a buyer with an order already gets no second one')
    t.same(mixed.get(4), { kind: 'won', orderId: (await idsInMysql(env, eventId)).get(`${eventId}-0-4`) }, 'the other buyer of that batch still wins')
    t.equal(await sold(), 4)
  })

  t.test(`${how}: never past the stock MySQL holds`, async (t) => {
    const env = await testEnv(t)
    const db = writerDb(t, env, multi)
    const eventId = await event(env, 2)
    const out = await writeOrders(db, eventId, [1, 2, 3, 4].map((q) => winner(eventId, q, 200 + q)), settings)
    t.same([1, 2, 3, 4].map((q) => out.get(q)).map((r) => r?.kind === 'won' ? 'won' : r?.reason), ['won', 'won', 'stock_mismatch', 'stock_mismatch'], 'the first two in line, no more')
    t.equal((await env.db('orders').where({ event_id: eventId }).count({ n: '*' }).first() as { n: number }).n, 2)
  })
}

for (const multi of [true, false]) {
  t.test(`a batch whose owner lost the shard writes nothing (the fencing number moved on), ${multi ? 'several statements a query' : 'one statement a query'}`, async (t) => {
    const env = await testEnv(t)
    const db = writerDb(t, env, multi)
    const eventId = await event(env, 10)
    const settings = { paymentTimeoutMs: 600_000, consecutiveIds: true }
    const stale = await raiseFence(env.db, { eventId, shard: 0 })
    const current = await raiseFence(env.db, { eventId, shard: 0 }) // a takeover
    t.equal(await writeFenced(db, eventId, [winner(eventId, 1, 301)], settings, { shard: 0, fence: stale }), 'lease_lost', 'the former owner is refused')
    t.equal((await env.db('orders').where({ event_id: eventId }).count({ n: '*' }).first() as { n: number }).n, 0, 'and wrote no order')
    const now = await writeFenced(db, eventId, [winner(eventId, 1, 301)], settings, { shard: 0, fence: current })
    t.not(now, 'lease_lost', 'the current owner writes')
    t.equal(await writeFenced(db, eventId, [winner(eventId, 2, 302)], settings, { shard: 1, fence: current }), 'lease_lost', 'a shard never owned has no fence to match')
  })
}

t.test('the common case is written in three round trips, outside knex; anything else the careful way, with nothing left behind', async (t) => {
  const env = await testEnv(t)
  const eventId = await event(env, 4)
  const settings = { paymentTimeoutMs: 600_000, consecutiveIds: true }
  let knexQueries = 0
  const count = (): void => { knexQueries++ }
  env.db.on('query', count)
  t.teardown(() => { env.db.off('query', count) })
  const fence = await raiseFence(env.db, { eventId, shard: 0 })
  knexQueries = 0

  const first = await writeFenced(env.db, eventId, [winner(eventId, 1, 401), winner(eventId, 2, 402)], settings, { shard: 0, fence })
  t.equal(knexQueries, 0, 'new winners within the room: no statement through knex')
  t.same([...(first as Map<number, WriteResult>).keys()], [1, 2])

  // A replay (room for it: 2 of 4 sold) hits the unique key in the fast way: rolled back there,
  // then written the careful way.
  const replay = await writeFenced(env.db, eventId, [winner(eventId, 2, 402), winner(eventId, 3, 403)], settings, { shard: 0, fence })
  t.ok(knexQueries > 0, 'a replayed ticket: written the careful way')
  t.same((replay as Map<number, WriteResult>).get(2), { ...(first as Map<number, WriteResult>).get(2), existing: true, heldAt: 0 }, 'the replayed ticket gets its order')
  t.equal((replay as Map<number, WriteResult>).get(3)?.kind, 'won', 'the new one wins')

  // Past the room: the careful way decides who fits.
  knexQueries = 0
  const past = await writeFenced(env.db, eventId, [winner(eventId, 4, 404), winner(eventId, 5, 405)], settings, { shard: 0, fence })
  t.ok(knexQueries > 0, 'room for one of two: written the careful way')
  t.same([4, 5].map((q) => (past as Map<number, WriteResult>).get(q)?.kind === 'won' ? 'won' : 'refused'), ['won', 'refused'], 'the first in line fits, the second does not')

  const orders = await env.db('orders').where({ event_id: eventId }).orderBy('id').select('ticket_id') as Array<{ ticket_id: string }>
  t.same(orders.map((o) => o.ticket_id), [1, 2, 3, 4].map((q) => `${eventId}-0-${q}`), 'each order once, none from a rolled-back statement')
  t.equal((await env.db('seckill_events').first('sold').where({ id: eventId }) as { sold: number }).sold, 4, 'sold counts each once')
  // The pooled connections were handed back clean: no transaction left open on this test's
  // database (other tests run beside this one, each on a database of its own).
  const [open] = await env.db.raw('SELECT COUNT(*) AS n FROM information_schema.innodb_trx t JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id WHERE p.db = DATABASE() AND p.id <> CONNECTION_ID()') as [[{ n: number }]]
  t.equal(Number(open[0]?.n), 0, 'no transaction left open')
})
