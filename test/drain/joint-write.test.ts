/** Several shards' batches in one transaction (src/orders/joint-write.ts), against the real MySQL. */
import t from 'tap'
import { writeJoint } from '../../src/orders/joint-write'
import type { JointPart, PartWritten } from '../../src/orders/joint-write'
import type { Winner, WriteResult } from '../../src/orders/order-rows'
import { raiseFence } from '../../src/db/shard-fences'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'

async function event (env: TestEnv, stock: number): Promise<number> {
  const [productId] = await env.db('products').insert({ title: 'p', price_cents: 100 }) as number[]
  const [eventId] = await env.db('seckill_events').insert({ product_id: productId, title: 'e', price_cents: 90, stock, shards: 2, start_at: new Date(), end_at: new Date(Date.now() + 3_600_000) }) as number[]
  return eventId as number
}

const winner = (eventId: number, shard: number, qpos: number, userId: number, unitShard = shard): Winner =>
  ({ qpos, userId: String(userId), ticketId: `${eventId}-${shard}-${qpos}`, unitShard, freshUnit: true })

async function part (env: TestEnv, eventId: number, shard: number, winners: Winner[]): Promise<JointPart> {
  return { eventId, winners, fence: { shard, fence: await raiseFence(env.db, { eventId, shard }) } }
}

async function write (env: TestEnv, parts: JointPart[], consecutiveIds = true): Promise<PartWritten[]> {
  return await env.db.transaction(async (trx) => await writeJoint(trx, parts, { paymentTimeoutMs: 600_000, consecutiveIds }))
}

const sold = async (env: TestEnv, eventId: number): Promise<number> => (await env.db('seckill_events').first('sold').where({ id: eventId }) as { sold: number }).sold
const orderIds = async (env: TestEnv): Promise<Map<string, string>> =>
  new Map((await env.db('orders').select('id', 'ticket_id') as Array<{ id: number, ticket_id: string }>).map((r) => [r.ticket_id, String(r.id)]))
const results = (w: PartWritten | undefined): Array<[number, WriteResult]> => w === undefined || w === 'lease_lost' ? [] : [...w]

for (const consecutiveIds of [true, false]) {
  t.test(`${consecutiveIds ? 'ids from the insert' : 'ids looked up'}: three shards of two sales in one write; a former owner's part writes nothing`, async (t) => {
    const env = await testEnv(t)
    const a = await event(env, 5)
    const b = await event(env, 5)
    const stale = await part(env, b, 1, [winner(b, 1, 1, 900)])
    await raiseFence(env.db, { eventId: b, shard: 1 }) // a takeover since
    const parts = [
      await part(env, a, 0, [winner(a, 0, 1, 101), winner(a, 0, 2, 102)]),
      await part(env, a, 1, [winner(a, 1, 1, 103, 0)]),
      await part(env, b, 0, [winner(b, 0, 1, 104)]),
      stale
    ]
    const out = await write(env, parts, consecutiveIds)
    const ids = await orderIds(env)
    t.same(results(out[0]), [[1, { kind: 'won', orderId: ids.get(`${a}-0-1`) }], [2, { kind: 'won', orderId: ids.get(`${a}-0-2`) }]], 'sale a, shard 0: both win, with the ids MySQL stored')
    t.same(results(out[1]), [[1, { kind: 'won', orderId: ids.get(`${a}-1-1`) }]], 'sale a, shard 1')
    t.same(results(out[2]), [[1, { kind: 'won', orderId: ids.get(`${b}-0-1`) }]], 'sale b, shard 0')
    t.equal(out[3], 'lease_lost', 'the former owner of sale b, shard 1 is refused')
    t.equal(ids.has(`${b}-1-1`), false, 'and wrote nothing')
    t.same([await sold(env, a), await sold(env, b)], [3, 1], 'sold counted per sale')
    const borrowed = await env.db('orders').first('unit_shard').where({ ticket_id: `${a}-1-1` }) as { unit_shard: number | null }
    t.equal(borrowed.unit_shard, 0, 'a borrowed unit names its shard')
  })
}

t.test('a buyer with an order already, or too few units: each part written as alone, in the same transaction', async (t) => {
  const env = await testEnv(t)
  const a = await event(env, 3)
  const b = await event(env, 2)
  await write(env, [await part(env, a, 0, [winner(a, 0, 1, 201)]), await part(env, b, 0, [winner(b, 0, 1, 301)])])
  // Buyer 201 again (another ticket) beside a new buyer: the joint insert hits the unique key.
  const out = await write(env, [
    await part(env, a, 1, [winner(a, 1, 1, 201), winner(a, 1, 2, 202)]),
    await part(env, b, 1, [winner(b, 1, 1, 302)])
  ])
  const kinds = (w: PartWritten | undefined): Array<[number, string]> => results(w).map(([q, r]) => [q, r.kind === 'won' ? 'won' : r.reason])
  t.same(kinds(out[0]), [[1, 'already_ordered'], [2, 'won']], 'the buyer with an order gets no second one; the other wins')
  t.same(kinds(out[1]), [[1, 'won']], 'the other sale\'s part is written too')
  // Sale b has no unit left in MySQL: two more winners (Redis held more units than MySQL).
  const short = await write(env, [
    await part(env, a, 0, [winner(a, 0, 3, 203)]),
    await part(env, b, 0, [winner(b, 0, 2, 303), winner(b, 0, 3, 304)])
  ])
  t.same(kinds(short[0]), [[3, 'won']])
  t.same(kinds(short[1]), [[2, 'stock_mismatch'], [3, 'stock_mismatch']], 'never past the stock MySQL holds')
  t.same([await sold(env, a), await sold(env, b)], [3, 2])
  const returns = await env.db('unit_returns').select('ticket_id', 'reason').orderBy('id') as Array<{ ticket_id: string, reason: string }>
  t.same(returns, [{ ticket_id: `${a}-1-1`, reason: 'already_ordered' }], 'the unit of the refused second ticket goes back')
})
