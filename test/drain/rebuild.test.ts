// Regression (stock ownership, scenario 7): a rebuild after Redis lost a sale counted the units of a
// batch between reserve and commit as free -- it read `sold` before that batch committed, gave the
// rebuilt shard stock − sold, and the commit landed on top (4 units where 2 were right, I6). A
// rebuild now raises the lost shards' fencing numbers first: a write in flight commits before the
// raise (and is counted in `sold`), or is refused after it.
import t from 'tap'
import { clearEvent, warmEvent } from '../../src/stock/sale-state'
import { auditSale } from '../../src/sale/invariant-audit'
import { buy, expectAudit, setup, takeShard } from '../helpers/shard-owner'

t.test('Redis loses the sale while a batch is between reserve and commit: the rebuild fences it out, no unit counted twice', async (t) => {
  const { env, http, eventId, service } = await setup(t, 2)
  const [a, b] = [await buy(t, http, env, eventId, 1101), await buy(t, http, env, eventId, 1102)]
  const stale = await takeShard(env, eventId, 'w1')
  const reservation = await stale.reserve([a, b])
  t.equal(reservation.holding.length, 2, 'the batch holds both units; its owner stalls before the order write')

  // Redis comes back empty; a worker rebuilds the sale from MySQL.
  await clearEvent(env, { id: eventId, shards: 1 })
  const event = await service.runtime.events.findById(eventId)
  if (event === undefined) throw new Error('event gone')
  t.equal(await warmEvent(env, event, service.runtime.events), 1, 'the shard is rebuilt')
  t.equal(await env.redis.get(env.keys.shard({ eventId, shard: 0 }).stock), '2', 'with both units: nothing was sold')

  const write = await stale.write([a, b], reservation)
  t.equal(write.leaseLost, true, 'the stalled write wakes up and is refused: the rebuild fenced it out')
  t.equal((await env.db('orders').where({ event_id: eventId }).count({ n: '*' }).first() as { n: number | string }).n, 0, 'no order lands on top of the rebuilt stock')
  const i6 = (await auditSale(env.db, env.redis, env.keys, eventId)).checks.find((c) => c.id === 'I6')
  t.ok(i6?.ok, `Redis and MySQL agree right after: ${i6?.detail ?? ''}`)

  // The buyers whose tickets Redis lost buy again, and win the two units, once each.
  const heir = await takeShard(env, eventId, 'w2')
  const again = [await buy(t, http, env, eventId, 1101), await buy(t, http, env, eventId, 1102), await buy(t, http, env, eventId, 1103)]
  t.same((await heir.batch(again)).outcomes.map((o) => o.status), ['won', 'won', 'sold_out'], 'two units, two winners')
  await expectAudit(t, env, eventId)
})

t.test('the batch commits first, then Redis loses the sale: the rebuild counts its orders as sold', async (t) => {
  const { env, http, eventId, service } = await setup(t, 2)
  const a = await buy(t, http, env, eventId, 1201)
  await buy(t, http, env, eventId, 1202)
  const owner = await takeShard(env, eventId, 'w1')
  const reservation = await owner.reserve([a])
  t.equal((await owner.write([a], reservation)).leaseLost, false, 'the order commits; the owner dies before finishing')

  await clearEvent(env, { id: eventId, shards: 1 })
  const event = await service.runtime.events.findById(eventId)
  if (event === undefined) throw new Error('event gone')
  await warmEvent(env, event, service.runtime.events)
  t.equal(await env.redis.get(env.keys.shard({ eventId, shard: 0 }).stock), '1', 'one unit left: the committed order is counted')

  const heir = await takeShard(env, eventId, 'w2')
  const again = [await buy(t, http, env, eventId, 1202), await buy(t, http, env, eventId, 1203)]
  t.same((await heir.batch(again)).outcomes.map((o) => o.status), ['won', 'sold_out'], 'the buyer whose ticket was lost wins the last unit')
  await expectAudit(t, env, eventId)
})
