/**
 * Regression (review of 0c36ede, randomized start, F4): the seal was decided by one ingress's
 * clock. An ingress whose clock runs ahead (here 150 s: this process's clock, CLOCK_SKEW_MS's
 * skewClock, while a buy goes through it) sent phase "open" when its Date.now() >= start_at and
 * sealed the entry list well before the start on MySQL's clock. From then on:
 *  - every buyer still inside the lead window (on correct clocks) is queued in arrival order
 *    instead of entering the draw: the lead window ends early for everyone;
 *  - the owner, seeing the seal, places at once (start-placement.ts only asks MySQL's clock when
 *    nothing sealed), and its drain sells before the start on MySQL's clock.
 * Fixed: lua/admitRandomStart judges lead or open on Redis's TIME against start_at, and
 * placeAtStart waits for the start on MySQL's clock even when the list is sealed.
 */
import t from 'tap'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { createSale, startTestService } from '../helpers/sale'
import { takeShard } from '../helpers/shard-owner'
import { placeAtStart } from '../../src/sale'
import { eventsRepository } from '../../src/catalog'
import { skewClock } from '../../src/util/clock'

t.test('one ingress with a fast clock ends the lead window for everyone and the sale sells before its start', async (t) => {
  const env = await testEnv(t, { GATE_OVERBOOK: '10' })
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock: 2, startInMs: 120_000, fields: { entry: 'random_at_start' } })
  const k = env.keys.shard({ eventId, shard: 0 })
  const buy = async (u: number): Promise<any> => (await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })).body.data

  t.match(await buy(101), { awaiting_draw: true }, 'buyer 101 enters the lead window')
  t.match(await buy(102), { awaiting_draw: true }, 'buyer 102 enters the lead window')

  // Two minutes before the start, a buy through an ingress whose clock reads past the start.
  skewClock(150_000)
  t.teardown(() => { skewClock(0) })
  const fast = await buy(300)
  skewClock(0)
  t.match(fast, { awaiting_draw: true }, `the fast ingress's buyer enters the lead window too (got ${JSON.stringify(fast)})`)
  const events = eventsRepository(env.db)
  const untilStart = await events.msUntilStart(eventId) ?? 0
  t.comment(`seal after the fast ingress's buy: ${String(await env.redis.get(k.startSeal))}, ${untilStart} ms before the start on MySQL's clock`)
  t.equal(await env.redis.exists(k.startSeal), 0, 'nothing is sealed before the start on MySQL\'s clock')

  // A buyer on a correct ingress, well inside the lead window.
  const late = await buy(103)
  t.match(late, { awaiting_draw: true }, `buyer 103, in the lead window ${untilStart} ms before the start, enters the draw (got ${JSON.stringify(late)})`)

  // The owner, before the start on MySQL's clock.
  const owner = await takeShard(env, eventId, 'owner')
  const placed = await placeAtStart({ redis: env.redis, keys: env.keys, events }, { eventId, shard: 0 }, owner.lease.token)
  t.match(placed, { kind: 'not_yet' }, `the owner places nobody before the start on MySQL's clock (got ${JSON.stringify(placed)})`)
  if (placed.kind === 'placed') {
    await owner.batch([1, 2, 3, 4])
    const early = await env.db('orders').join('seckill_events', 'orders.event_id', 'seckill_events.id')
      .where('orders.event_id', eventId).andWhereRaw('orders.created_at < seckill_events.start_at').count({ n: '*' }).first() as { n: number | string }
    t.equal(Number(early.n), 0, `no order is made before the sale's start (made: ${String(early.n)})`)
  }
})
