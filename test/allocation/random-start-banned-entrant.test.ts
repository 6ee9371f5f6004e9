/**
 * Regression (review of 0c36ede, randomized start, F6): a buyer banned during the lead window (when operators
 * find the bots: ten minutes of entries to look at) keeps the entry, is placed at the start and
 * wins. lua/placeEntrants checks the entry id, holders and `rejected`, never `banned`; the waitlist
 * (lua/serveWaitlist) drops a buyer banned while waiting, and the lead window's entrant, who holds
 * no place yet either, should be treated the same.
 */
import t from 'tap'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import { takeShard } from '../helpers/shard-owner'
import { placeAtStart } from '../../src/sale'
import { eventsRepository } from '../../src/catalog'

t.test('a buyer banned in the lead window is placed and wins', async (t) => {
  const env = await testEnv(t, { GATE_OVERBOOK: '10' })
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock: 3, startInMs: 6000, fields: { entry: 'random_at_start' } })
  await env.db('users').insert([401, 402, 403].map((id) => ({ id, email: `u${id}@example.com`, password_hash: null, role: 'user' })))
  const tickets = new Map<number, string>()
  for (const u of [401, 402, 403]) {
    const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })
    t.match(r.body.data, { awaiting_draw: true }, `buyer ${u} entered`)
    tickets.set(u, r.body.data.ticket_id)
  }
  const ban = await http.request('POST', '/api/v1/admin/users/401/ban', { token: env.token(1, 'admin'), body: { reason: 'bot' } })
  t.equal(ban.status, 200, 'buyer 401 banned in the lead window')
  const events = eventsRepository(env.db)
  await until(async () => (await events.msUntilStart(eventId) ?? 1) <= 0, 30_000, 'the start')
  const owner = await takeShard(env, eventId, 'owner')
  const placed = await placeAtStart({ redis: env.redis, keys: env.keys, events }, { eventId, shard: 0 }, owner.lease.token)
  t.comment(`placement: ${JSON.stringify(placed)}`)
  await owner.batch([1, 2, 3])
  const order = await env.db('orders').first('id', 'status').where({ event_id: eventId, user_id: 401 })
  t.comment(`banned buyer's order: ${JSON.stringify(order)}`)
  t.notOk(order, 'a buyer banned before the draw gets no place and no order')
})
