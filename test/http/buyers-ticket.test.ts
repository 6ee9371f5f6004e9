/**
 * GET /events/:id/ticket: the signed-in buyer's own ticket for a sale, so a reloaded page (or
 * another tab) resumes where the buyer is -- in line, won, sold out -- and nobody reads another
 * buyer's. A won ticket whose Redis state is gone is answered from its order.
 */
import t from 'tap'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'

t.test('a buyer reads back their own ticket for a sale: queued, sold out, won, and won from MySQL once Redis forgot it', async (t) => {
  const env = await testEnv(t)
  // Ingress only at first: nothing drains, so the admitted tickets stay queued.
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock: 2 })
  const mine = async (user: number): Promise<{ status: number, body: any }> => await http.request('GET', `/api/v1/events/${eventId}/ticket`, { token: env.token(user) })

  t.equal((await mine(901)).status, 404, 'before buying: 404')
  t.equal((await mine(901)).body.code, 'TICKET_NOT_FOUND')
  t.equal((await http.request('GET', `/api/v1/events/${eventId}/ticket`)).status, 401, 'signed out: 401')
  t.equal((await http.request('GET', '/api/v1/events/abc/ticket', { token: env.token(901) })).status, 400, 'a malformed id: 400')
  t.equal((await mine(901)).status, 404)
  const unknown = await http.request('GET', '/api/v1/events/987654321/ticket', { token: env.token(901) })
  t.equal(unknown.body.code, 'EVENT_NOT_FOUND', 'an unknown sale: 404 EVENT_NOT_FOUND')

  // Stock 2, overbook 1.1: three are admitted, the fourth is turned away at the gate.
  const bought = new Map<number, any>()
  for (const user of [901, 902, 903, 904]) bought.set(user, (await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })).body.data)
  t.equal(bought.get(904).status, 'sold_out', 'the fourth buyer was turned away')

  const queued = await mine(901)
  t.equal(queued.status, 200)
  t.same({ id: queued.body.data.ticket_id, status: queued.body.data.status, position: queued.body.data.position }, { id: bought.get(901).ticket_id, status: 'queued', position: 1 }, 'in line, with the ticket the buy answered')
  t.equal((await mine(903)).body.data.position, 3, 'each buyer their own')
  const away = await mine(904)
  t.same(away.body.data, { ticket_id: bought.get(904).ticket_id, status: 'sold_out' }, 'turned away: sold out, the same ticket id')
  t.equal((await mine(905)).status, 404, 'a buyer who never bought: 404')

  // A worker drains: two win, the third is sold out.
  await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'worker', METRICS_PORT: '0' }))
  await until(async () => (await mine(903)).body.data.status !== 'queued', 20_000, 'the line decided')
  const won = await mine(901)
  t.equal(won.body.data.status, 'won')
  t.ok(/^\d+$/.test(String(won.body.data.order_id)), 'with its order')
  t.equal((await mine(903)).body.data.status, 'sold_out', 'the third in line: sold out')

  // Redis forgets the sale (lost, or expired after it): a winner still finds their ticket.
  const k = env.keys.shard({ eventId, shard: 0 })
  await env.redis.del(k.holders, k.tickets, k.rejected)
  const fromMysql = await mine(901)
  t.same(fromMysql.body.data, { ticket_id: bought.get(901).ticket_id, status: 'won', order_id: won.body.data.order_id }, 'won, from its order')
  t.equal((await mine(903)).status, 404, 'a loser\'s ticket went with the state')
})
