// Units that come back (stock-ownership rule). Each test drives one shard by hand, the way the
// drainer does -- reserve, write and finish stages under a fenced lease, returns applied between
// batches -- against the real scripts, Redis and MariaDB, and judges the sale with the audit.
// Regressions of interleavings found in review:
//   - a unit returned while a batch was between reserve and finish: the epoch boundary was put
//     below the batch, its loser fell in the new epoch (I4: position 3 lost while 4 won);
//   - a crash after the order commit, a cancel during the takeover, the replay: the replay
//     reserved a second unit and `pending` went to -1 (I3, I6; the event never retired);
//   - a winner found already_ordered gave its unit back with no new epoch (I4: 2 lost, 3 won);
//   - a retried batch took its own shard's unit that had come back, though its ticket already held
//     one borrowed from a sibling: the borrowed unit was stranded (I5, I6);
//   - a cancel that committed while the reconciler repaired was counted free by the reconciler and
//     returned again by the owner: a phantom unit (I6).
import t from 'tap'
import { clearEvent, warmEvent } from '../../src/stock/sale-state'
import { reconcileEvent } from '../../src/stock/reconciler'
import { buy, buyersOf, expectAudit, orderOf, setup, takeShard } from '../helpers/shard-owner'

t.test('a unit returned while a batch is between reserve and finish waits for that batch; the next buyer wins it', async (t) => {
  const { env, http, eventId } = await setup(t, 1)
  const [a, b, c, d] = [await buy(t, http, env, eventId, 501), await buy(t, http, env, eventId, 502), await buy(t, http, env, eventId, 503), await buy(t, http, env, eventId, 504)]
  const owner = await takeShard(env, eventId, 'w1')
  t.same((await owner.batch([a, b])).outcomes.map((o) => o.status), ['won', 'sold_out'])

  // Batch [c] reserves (nothing left) and is in flight when the winner cancels.
  const reservation = await owner.reserve([c])
  const orderId = await orderOf(env, `${eventId}-0-${a}`)
  const cancel = await http.request('POST', `/api/v1/orders/${orderId}/cancel`, { token: env.token(501) })
  t.equal(cancel.status, 200, 'the winner cancels')
  t.equal(await env.redis.get(env.keys.shard({ eventId, shard: 0 }).stock), '0', 'the unit is not put back behind the batch in flight')

  t.same((await owner.finish([c], reservation, await owner.write([c], reservation))).outcomes.map((o) => o.status), ['sold_out'], 'the batch in flight decides from its reservation')
  t.match(await owner.applyReturns(), { returned: 1, waiting: 0 }, 'between batches the owner puts the unit back')
  t.same((await owner.batch([d])).outcomes.map((o) => o.status), ['won'], 'and the next buyer in line wins it')
  await expectAudit(t, env, eventId)
})

t.test('a crash after the order commit, a cancel during the takeover, the replay: one unit, pending never negative', async (t) => {
  const { env, http, eventId } = await setup(t, 1)
  const [a, b] = [await buy(t, http, env, eventId, 601), await buy(t, http, env, eventId, 602)]
  const first = await takeShard(env, eventId, 'w1')
  const reservation = await first.reserve([a, b])
  await first.write([a, b], reservation) // ... and the worker dies before writing outcomes

  // The buyer sees the order and cancels it while the shard changes hands.
  const orderId = await orderOf(env, `${eventId}-0-${a}`)
  t.equal((await http.request('POST', `/api/v1/orders/${orderId}/cancel`, { token: env.token(601) })).status, 200)
  const heir = await takeShard(env, eventId, 'w2')
  t.match(await heir.applyReturns(), { returned: 0, waiting: 1 }, 'the return waits: its ticket is still undecided')

  const replay = await heir.batch([a, b])
  t.same(replay.outcomes.map((o) => o.status), ['won', 'sold_out'], 'the replay finds the unit still reserved and the order written')
  t.equal(replay.pending, 0, 'pending stays 0')
  t.match(await heir.applyReturns(), { returned: 1, waiting: 0 }, 'then the unit comes back, once')
  t.match(await heir.applyReturns(), { returned: 0, waiting: 0 }, 'and only once')

  const c = await buy(t, http, env, eventId, 603)
  t.same((await heir.batch([c])).outcomes.map((o) => o.status), ['won'], 'a new buyer wins the returned unit')
  await expectAudit(t, env, eventId)
})

t.test('a winner found already_ordered (its order survived a Redis loss): its unit comes back in a new epoch and is sold', async (t) => {
  const { env, http, eventId, service } = await setup(t, 2)
  const owner = await takeShard(env, eventId, 'w1')
  const a = await buy(t, http, env, eventId, 701)
  t.same((await owner.batch([a])).outcomes.map((o) => o.status), ['won'])

  // Redis loses the sale; it is rebuilt from MySQL (1 unit left), and the winner buys again.
  await clearEvent(env, { id: eventId, shards: 1 })
  const event = await service.runtime.events.findById(eventId)
  if (event === undefined) throw new Error('event gone')
  await warmEvent(env, event, service.runtime.events)
  const heir = await takeShard(env, eventId, 'w2')
  const again = await buy(t, http, env, eventId, 701)
  const b = await buy(t, http, env, eventId, 702)
  const c = await buy(t, http, env, eventId, 703)
  const batch = await heir.batch([again, b])
  t.same(batch.outcomes.map((o) => o.status), ['failed', 'sold_out'], 'the winner is refused a second order; the buyer behind finds nothing left')
  t.match(await heir.applyReturns(), { returned: 1 }, 'its unit comes back between batches')
  t.same((await heir.batch([c])).outcomes.map((o) => o.status), ['won'], 'and the next buyer wins it')
  t.equal((await env.db('seckill_events').first('sold').where({ id: eventId }) as { sold: number }).sold, 2, 'the whole stock sold')
  await expectAudit(t, env, eventId)
})

t.test('a cancel that commits while the reconciler repairs: its unit comes back once, through the owner; no phantom unit', async (t) => {
  const { env, http, eventId, service } = await setup(t, 2)
  const [a, b] = [await buy(t, http, env, eventId, 801), await buy(t, http, env, eventId, 802)]
  const owner = await takeShard(env, eventId, 'w1')
  t.same((await owner.batch([a, b])).outcomes.map((o) => o.status), ['won', 'won'], 'the stock is sold')
  await env.redis.del(env.keys.shard({ eventId, shard: 0 }).lease) // the owner dies; the reconciler runs

  // The cancel commits right after the reconciler read the orders (it saw the order live): `sold`
  // drops while the unit is still held in Redis.
  const orderId = await orderOf(env, `${eventId}-0-${a}`)
  const events = service.runtime.events
  let cancelled = false
  const racing: typeof events = {
    ...events,
    orderTickets: async (id, trx) => {
      const r = await events.orderTickets(id, trx)
      if (!cancelled) {
        cancelled = true
        t.equal((await http.request('POST', `/api/v1/orders/${orderId}/cancel`, { token: env.token(801) })).status, 200, 'the winner cancels mid-repair')
      }
      return r
    }
  }
  const event = await events.findById(eventId)
  if (event === undefined) throw new Error('event gone')
  const report = await reconcileEvent({ ...env, events: racing }, event)
  t.ok(cancelled && report.atRest, 'the cancel ran between the reconciler\'s reads')
  t.equal(report.stockAdjusted, 0, 'the reconciler does not count the cancelled unit free: it is still held, its return not yet applied')

  const heir = await takeShard(env, eventId, 'w2')
  t.match(await heir.applyReturns(), { returned: 1 }, 'the owner applies the return')
  t.equal(await env.redis.get(env.keys.shard({ eventId, shard: 0 }).stock), '1', 'one unit is free, not two')
  const [c, d] = [await buy(t, http, env, eventId, 803), await buy(t, http, env, eventId, 804)]
  t.same((await heir.batch([c, d])).outcomes.map((o) => o.status), ['won', 'sold_out'], 'the next buyer wins it, the one after finds nothing')
  await expectAudit(t, env, eventId)
})

t.test('a retried batch whose ticket borrowed from a sibling does not also take a unit that came back to its own shard', async (t) => {
  const { env, http, eventId } = await setup(t, 2, 2) // one unit in each shard
  const [u1, u2, u3] = buyersOf(0, 2, 900, 3) as [number, number, number]
  const a = await buy(t, http, env, eventId, u1)
  const b = await buy(t, http, env, eventId, u2)
  const c = await buy(t, http, env, eventId, u3)
  const first = await takeShard(env, eventId, 'w1', 0, 2)
  t.same((await first.batch([a])).outcomes.map((o) => o.status), ['won'], 'the first buyer wins shard 0\'s unit')
  const borrowed = await first.reserve([b])
  t.same(borrowed.holding, [[b, { shard: 1, local: false, fresh: true }]], 'the second borrows shard 1\'s unit; the owner dies before writing')

  // The first winner cancels: the unit comes back to shard 0, applied by the next owner.
  t.equal((await http.request('POST', `/api/v1/orders/${await orderOf(env, `${eventId}-0-${a}`)}/cancel`, { token: env.token(u1) })).status, 200)
  const heir = await takeShard(env, eventId, 'w2', 0, 2)
  t.match(await heir.applyReturns(), { returned: 1 }, 'the unit is back in shard 0')

  const replay = await heir.batch([b])
  t.same(replay.outcomes.map((o) => o.status), ['won'], 'the replay wins with the unit it borrowed')
  t.equal(replay.stock, 1, 'and leaves the returned unit in shard 0')
  t.same((await heir.batch([c])).outcomes.map((o) => o.status), ['won'], 'which the next buyer wins')
  t.same(await env.redis.hkeys(env.keys.shard({ eventId, shard: 1 }).reserved), [`${eventId}-0-${b}`], 'shard 1 holds one unit, for the ticket that has its order')
  t.equal((await env.db('seckill_events').first('sold').where({ id: eventId }) as { sold: number }).sold, 2, 'both units sold, none stranded')
  await env.redis.del(env.keys.shard({ eventId, shard: 1 }).lease)
  await expectAudit(t, env, eventId)
})
