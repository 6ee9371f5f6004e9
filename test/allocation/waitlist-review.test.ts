// Regressions found by review of the waitlist (each pinned by name): a buyer without a buy token
// joined a token sale's waitlist and was served; a buyer banned while waiting was served; leaving
// a waitlist one was not on (404) still marked the buyer as left, so they were passed over.
import t from 'tap'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { createSale, startTestService } from '../helpers/sale'
import { expectAudit, orderOf, takeShard } from '../helpers/shard-owner'

async function setup (t: any, stock: number, overbook: string, fields: Record<string, unknown> = {}) {
  const env = await testEnv(t, { GATE_OVERBOOK: overbook })
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock, fields: { waitlist: true, ...fields } })
  const buy = async (user: number, headers: Record<string, string> = {}) => {
    const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user), headers })
    return { status: r.status, body: r.body }
  }
  const read = async (user: number, id: string) => (await http.request('GET', `/api/v1/tickets/${id}`, { token: env.token(user) })).body.data
  const cancel = async (user: number, ticketId: string) => {
    const r = await http.request('POST', `/api/v1/orders/${await orderOf(env, ticketId)}/cancel`, { token: env.token(user) })
    if (r.status !== 200) throw new Error(`cancel ${r.status} ${JSON.stringify(r.body)}`)
  }
  return { env, http, eventId, buy, read, cancel }
}

t.test('a sale that needs a buy token: a buyer without one does not join its waitlist', async (t) => {
  const { env, http, eventId, buy, cancel } = await setup(t, 1, '1', { require_token: true })
  const tok = await http.request('POST', `/api/v1/events/${eventId}/token`, { token: env.token(201) })
  t.equal(tok.status, 200, 'A gets a buy token')
  const a = await buy(201, { 'x-buy-token': tok.body.data.token })
  t.equal(a.status, 202, 'A (with token) queued')
  const noTok = await buy(203) // never asked for a token
  t.equal(noTok.body.code, 'BUY_TOKEN_INVALID', 'B, without a token, is refused, not waitlisted')
  const owner = await takeShard(env, eventId, 'owner')
  await owner.batch([1])
  await cancel(201, a.body.data.ticket_id)
  await owner.applyReturns()
  t.notOk(await env.db('orders').first('id').where({ event_id: eventId, user_id: 203 }), 'B gets no order')
  t.equal(await env.redis.get(env.keys.shard({ eventId, shard: 0 }).stock), '1', 'the unit that came back is for sale again')
})

t.test('a buyer banned while waitlisted is dropped from the list, not served', async (t) => {
  const { env, http, eventId, buy, read, cancel } = await setup(t, 1, '1')
  await env.db('users').insert([{ id: 301, email: 'a@example.com', password_hash: null, role: 'user' }, { id: 302, email: 'b@example.com', password_hash: null, role: 'user' }])
  const a = await buy(301)
  const b = await buy(302)
  t.match(b.body.data, { status: 'sold_out', waitlisted: true, waitlist_place: 1 }, 'B waitlisted')
  const ban = await http.request('POST', '/api/v1/admin/users/302/ban', { token: env.token(1, 'admin'), body: { reason: 'scalper' } })
  t.equal(ban.status, 200, 'B banned')
  t.equal((await buy(302)).status, 403, 'B\'s buys are refused now (ACCOUNT_BANNED)')
  const owner = await takeShard(env, eventId, 'owner')
  await owner.batch([1])
  await cancel(301, a.body.data.ticket_id)
  await owner.applyReturns()
  await owner.batch([2])
  const order = await env.db('orders').first('id', 'status').where({ event_id: eventId, user_id: 302 })
  t.comment(`banned B's order: ${JSON.stringify(order)}; B's ticket: ${JSON.stringify(await read(302, b.body.data.ticket_id))}`)
  t.notOk(order, 'a banned buyer is not admitted by another path')
})

t.test('leaving a waitlist one is not on (404) changes nothing: a buyer who then loses is first on it', async (t) => {
  const { env, http, eventId, buy, read, cancel } = await setup(t, 1, '2')
  const a = await buy(401)
  const b = await buy(402)
  t.same([a.status, b.status], [202, 202], 'A and B in line for one unit')
  const leave = await http.request('DELETE', `/api/v1/events/${eventId}/waitlist`, { token: env.token(402) })
  t.same([leave.status, leave.body.code], [404, 'NOT_ON_WAITLIST'], 'B is told they are not on the waitlist')
  const owner = await takeShard(env, eventId, 'owner')
  await owner.batch([1, 2])
  const bLost = await read(402, b.body.data.ticket_id)
  t.comment(`B lost in the drain: ${JSON.stringify(bLost)}`)
  const c = await buy(403) // arrives after B
  t.comment(`newcomer C: ${JSON.stringify(c.body.data)}`)
  await cancel(401, a.body.data.ticket_id)
  await owner.applyReturns()
  t.comment(`after the return: B ${JSON.stringify(await read(402, b.body.data.ticket_id))}; C ${JSON.stringify(await read(403, c.body.data.ticket_id))}`)
  await owner.batch([3])
  t.comment(`C (arrived after B) final: ${JSON.stringify(await read(403, c.body.data.ticket_id))}`)
  t.match(bLost, { status: 'sold_out', waitlisted: true, waitlist_place: 1 }, 'B, who lost in the drain and never left, is first on the waitlist')
  t.match(await read(402, b.body.data.ticket_id), { status: 'won' }, 'B wins the unit that came back')
  t.match(await read(403, c.body.data.ticket_id), { status: 'sold_out' }, 'C, who came after B, does not')
  await expectAudit(t, env, eventId)
})
