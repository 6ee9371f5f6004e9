/**
 * Regression (review of 0c36ede, randomized start, F2): a sibling shard borrows the units of a shard whose entry
 * list is not sealed yet. Until the seal, a shard's entrants are not counted in `pending`, so
 * lua/borrowStock sees the shard's whole stock as free (stock − pending) and lends it to the
 * sibling's buyers who arrived AFTER the start. The lead-window entrant of that shard then loses to
 * a later arrival: the randomized start's promise ("later buyers queue behind them") breaks, and
 * first come first served never allowed this (an admitted ticket's unit is never lendable).
 *
 * Interleaving: stock 2 over 2 shards (1 unit each). Lead window: buyer E enters on shard 1.
 * After the start: buyers A and B buy on shard 0 (they seal shard 0, not shard 1). Shard 0's owner
 * places (nothing to place) and drains A, B: B borrows shard 1's unit. Shard 1's owner places E
 * (a slow owner, or one taken over after a crash at the start) and drains: E is sold_out.
 */
import t from 'tap'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import { buyersOf, takeShard } from '../helpers/shard-owner'
import { placeAtStart } from '../../src/sale'
import { eventsRepository } from '../../src/catalog'

t.test('lead-window entrant of an unsealed shard loses its unit to a post-start buyer of a sibling', async (t) => {
  const env = await testEnv(t, { GATE_OVERBOOK: '10' })
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock: 2, shards: 2, startInMs: 4000, fields: { entry: 'random_at_start' } })
  const [entrant] = buyersOf(1, 2, 1000, 1) as [number]
  const [a, b] = buyersOf(0, 2, 2000, 2) as [number, number]
  const buy = async (u: number): Promise<any> => (await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })).body.data
  const read = async (u: number, id: string): Promise<any> => (await http.request('GET', `/api/v1/tickets/${id}`, { token: env.token(u) })).body.data

  const entry = await buy(entrant)
  t.match(entry, { status: 'queued', awaiting_draw: true }, `buyer ${entrant} entered the lead window on shard 1`)

  const events = eventsRepository(env.db)
  await until(async () => (await events.msUntilStart(eventId) ?? 1) <= 0, 30_000, 'the start')
  const ta = await buy(a)
  const tb = await buy(b)
  t.match([ta.status, tb.status], ['queued', 'queued'], 'two buyers of shard 0 after the start')

  // Shard 0's owner places (nothing) and drains its two tickets; shard 1's owner has not looked yet.
  const deps = { redis: env.redis, keys: env.keys, events }
  const o0 = await takeShard(env, eventId, 'owner-0', 0, 2)
  t.match(await placeAtStart(deps, { eventId, shard: 0 }, o0.lease.token), { kind: 'placed' })
  await o0.batch([1, 2])
  // Shard 1's owner comes (a moment later): places its entrant and drains.
  const o1 = await takeShard(env, eventId, 'owner-1', 1, 2)
  t.match(await placeAtStart(deps, { eventId, shard: 1 }, o1.lease.token), { kind: 'placed', count: 1 })
  await o1.batch([1])

  const eOut = await read(entrant, entry.ticket_id)
  const bOut = await read(b, tb.ticket_id)
  t.comment(`entrant (lead window, shard 1): ${JSON.stringify(eOut)}; buyer ${b} (after the start, shard 0): ${JSON.stringify(bOut)}`)
  t.not(eOut.status === 'sold_out' && bOut.status === 'won', true,
    'a lead-window entrant never loses to a buyer who arrived after the start (the entrant\'s unit was lent before the seal)')
  t.equal(eOut.status, 'won', 'two units, one entrant in the lead window: the entrant wins')
})
