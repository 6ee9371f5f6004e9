// Regression (every writer is its owner): the sold-out declaration closed sibling shards' gates
// while their owners' batches were in flight. An owner now closes only its own gate (lua/closeShard,
// fenced by its lease); the sale is announced sold out by whoever closes the last open gate.
import t from 'tap'
import { closeGateIfSaleEmpty, isDeclaredSoldOut } from '../../src/stock/sale-state'
import { buy, buyersOf, expectAudit, setup, takeShard } from '../helpers/shard-owner'

t.test('a sold-out shard closes its own gate only; a sibling mid-batch keeps its gate open', async (t) => {
  const { env, http, eventId } = await setup(t, 2, 2)
  const event = { id: eventId, shards: 2 }
  const closed = async (shard: number): Promise<boolean> => await env.redis.exists(env.keys.shard({ eventId, shard }).closed) === 1
  const [a] = buyersOf(0, 2, 6000, 1)
  const [b] = buyersOf(1, 2, 6100, 1)
  const aPos = await buy(t, http, env, eventId, a as number)
  const bPos = await buy(t, http, env, eventId, b as number)
  const o0 = await takeShard(env, eventId, 'o0', 0, 2)
  const o1 = await takeShard(env, eventId, 'o1', 1, 2)
  t.same((await o0.batch([aPos])).outcomes.map((o) => o.status), ['won'], 'shard 0 sells its unit')
  // Shard 1's batch is in flight: its unit reserved, its order not written yet.
  const inFlight = await o1.reserve([bPos])

  const first = await closeGateIfSaleEmpty(env, event, { eventId, shard: 0 }, o0.lease.token)
  t.same(first, { look: 'closed', closedHere: true }, 'shard 0\'s owner closes its gate: no unit left anywhere')
  t.notOk(await closed(1), 'shard 1\'s gate stays open while its owner\'s batch is in flight')
  t.notOk(await isDeclaredSoldOut(env, eventId), 'not announced sold out while a gate is open')

  const stale = await closeGateIfSaleEmpty(env, event, { eventId, shard: 1 }, 'not-the-owner')
  t.equal(stale.look, 'lease_lost', 'a caller that does not own shard 1 cannot close its gate')
  t.notOk(await closed(1), 'and shard 1 is still open')

  t.same((await o1.finish([bPos], inFlight, await o1.write([bPos], inFlight))).outcomes.map((o) => o.status), ['won'], 'shard 1\'s batch lands')
  const last = await closeGateIfSaleEmpty(env, event, { eventId, shard: 1 }, o1.lease.token)
  t.same(last, { look: 'closed', closedHere: true }, 'shard 1\'s owner closes its own gate')
  t.ok(await isDeclaredSoldOut(env, eventId), 'the last gate closed announces the sale sold out')
  await expectAudit(t, env, eventId)
})
