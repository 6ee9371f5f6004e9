/**
 * The waitlist for units that come back (src/sale/allocation/waitlist.ts, lua/admitWaitlisted,
 * lua/serveWaitlist): interleavings driven by hand with the shard's owner (test/helpers/
 * shard-owner.ts) against the real Redis and MariaDB, then a sale with the real drain.
 */
import t from 'tap'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, returnsApplied, saleIdle, startTestService, until } from '../helpers/sale'
import type { Http } from '../helpers/sale'
import { expectAudit, orderOf, takeShard } from '../helpers/shard-owner'
import type { Test } from '../helpers/tap-types'
import { auditSale } from '../../src/sale'
import { readWaitlist } from '../../src/redis/commands'

interface Answer { status: number, ticket: { ticket_id: string, status: string, waitlisted?: boolean, waitlist_place?: number, order_id?: string } }

async function waitlistSale (t: Test, stock: number, overbook: string, spec: { durationMs?: number } = {}): Promise<{ env: TestEnv, http: Http, eventId: number }> {
  // Ingress only: the test is the drain.
  const env = await testEnv(t, { GATE_OVERBOOK: overbook })
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock, ...spec, fields: { waitlist: true } })
  return { env, http, eventId }
}

const buyer = (http: Http, env: TestEnv, eventId: number) => async (user: number): Promise<Answer> => {
  const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })
  return { status: r.status, ticket: r.body.data }
}
const reader = (http: Http, env: TestEnv) => async (user: number, ticketId: string): Promise<Answer['ticket']> =>
  (await http.request('GET', `/api/v1/tickets/${ticketId}`, { token: env.token(user) })).body.data
const canceller = (http: Http, env: TestEnv) => async (user: number, ticketId: string): Promise<void> => {
  const r = await http.request('POST', `/api/v1/orders/${await orderOf(env, ticketId)}/cancel`, { token: env.token(user) })
  if (r.status !== 200) throw new Error(`cancel: ${r.status} ${JSON.stringify(r.body)}`)
}

t.test('turned away at the gate: waitlisted in arrival order; returns go to the waitlist first, one each, before newcomers', async (t) => {
  const { env, http, eventId } = await waitlistSale(t, 2, '1')
  const buy = buyer(http, env, eventId)
  const read = reader(http, env)
  const cancel = canceller(http, env)
  const [a, b] = [await buy(501), await buy(502)]
  t.same([a.status, b.status], [202, 202], 'two buyers in line for two units')
  const [c, d, e] = [await buy(503), await buy(504), await buy(505)]
  t.match([c, d, e].map((x) => x.ticket), [
    { status: 'sold_out', waitlisted: true, waitlist_place: 1 },
    { status: 'sold_out', waitlisted: true, waitlist_place: 2 },
    { status: 'sold_out', waitlisted: true, waitlist_place: 3 }
  ], 'turned away at the gate: on the waitlist, in arrival order')
  t.same((await buy(504)).ticket, d.ticket, 'a resubmit gets the same answer and place (I7)')
  t.match(await read(503, c.ticket.ticket_id), { status: 'sold_out', waitlisted: true, waitlist_place: 1 }, 'the poll shows the place')

  const owner = await takeShard(env, eventId, 'owner-1')
  await owner.batch([1, 2])
  t.equal((await read(501, a.ticket.ticket_id)).status, 'won')

  // a's unit comes back; a newcomer arrives before the owner applies it: the newcomer waits behind.
  await cancel(501, a.ticket.ticket_id)
  const f = await buy(506)
  t.match(f.ticket, { status: 'sold_out', waitlisted: true, waitlist_place: 4 }, 'a newcomer does not pass the waitlist')
  const applied = await owner.applyReturns()
  t.match(applied, { leaseLost: false, returned: 1 })
  const cNow = await read(503, c.ticket.ticket_id)
  t.match(cNow, { status: 'queued' }, 'the first on the waitlist got a ticket with the unit')
  t.not(cNow.ticket_id, c.ticket.ticket_id, 'a new ticket id, which the old one leads to')
  t.equal((await buy(503)).ticket.ticket_id, cNow.ticket_id, 'and a resubmit returns it (I7)')
  t.match(await read(504, d.ticket.ticket_id), { waitlist_place: 1 }, 'the others move up')
  const g = await buy(507)
  t.match(g.ticket, { status: 'sold_out', waitlisted: true, waitlist_place: 4 }, 'a newcomer after the return: behind d, e, f')
  await owner.batch([3])
  t.match(await read(503, cNow.ticket_id), { status: 'won' }, 'the waitlisted buyer won the returned unit')

  // e leaves; then b's unit comes back and goes to d, not to e or the newcomers.
  t.equal((await http.request('DELETE', `/api/v1/events/${eventId}/waitlist`, { token: env.token(505) })).status, 204, 'e leaves')
  const again = await http.request('DELETE', `/api/v1/events/${eventId}/waitlist`, { token: env.token(505) })
  t.same([again.status, again.body.code], [404, 'NOT_ON_WAITLIST'], 'leaving twice')
  t.same(await read(505, e.ticket.ticket_id), { ticket_id: e.ticket.ticket_id, status: 'sold_out' }, 'e is plainly sold out now')
  t.same((await buy(505)).ticket, { ticket_id: e.ticket.ticket_id, status: 'sold_out' }, 'and stays so when asking again')
  await cancel(502, b.ticket.ticket_id)
  await owner.applyReturns()
  const dNow = await read(504, d.ticket.ticket_id)
  t.match(dNow, { status: 'queued' }, 'd is served next')
  await owner.batch([4])
  t.match(await read(504, dNow.ticket_id), { status: 'won' })
  t.match(await read(506, f.ticket.ticket_id), { waitlisted: true, waitlist_place: 1 }, 'f is next, then g')
  t.match(await read(507, g.ticket.ticket_id), { waitlisted: true, waitlist_place: 2 })
  await expectAudit(t, env, eventId)
  t.ok((await auditSale(env.db, env.redis, env.keys, eventId)).checks.some((c) => c.id === 'I7'), 'the audit checks the waitlist')
})

t.test('tickets that lost in the drain join in arrival order, ahead of buyers the gate turned away later', async (t) => {
  const { env, http, eventId } = await waitlistSale(t, 1, '3')
  const buy = buyer(http, env, eventId)
  const read = reader(http, env)
  const [a, b, c] = [await buy(601), await buy(602), await buy(603)]
  const d = await buy(604)
  t.match(d.ticket, { status: 'sold_out', waitlisted: true, waitlist_place: 1 }, 'the gate turned d away (three in line for one unit)')
  const owner = await takeShard(env, eventId, 'owner-1')
  await owner.batch([1, 2, 3])
  t.match(await read(601, a.ticket.ticket_id), { status: 'won' })
  t.match(await read(602, b.ticket.ticket_id), { status: 'sold_out', waitlisted: true, waitlist_place: 1 }, 'b lost in the drain; arrived before d')
  t.match(await read(603, c.ticket.ticket_id), { status: 'sold_out', waitlisted: true, waitlist_place: 2 })
  t.match(await read(604, d.ticket.ticket_id), { waitlist_place: 3 }, 'd moved behind them')
  await canceller(http, env)(601, a.ticket.ticket_id)
  await owner.applyReturns()
  const bNow = await read(602, b.ticket.ticket_id)
  t.match(bNow, { status: 'queued' }, 'b is served')
  await owner.batch([4])
  t.match(await read(602, bNow.ticket_id), { status: 'won' })
  await expectAudit(t, env, eventId)

  // The audit can fail: a buyer who arrived before everyone and still waits, passed by the line.
  await env.redis.zadd(env.keys.waitlist({ eventId, shard: 0 }).list, 0, '000000000999:699')
  const i7 = (await auditSale(env.db, env.redis, env.keys, eventId)).checks.find((c) => c.id === 'I7')
  t.match(i7, { ok: false, detail: /user 699 \(arrival 0\) still waits/ }, `I7 fails on a passed-over buyer: ${i7?.detail ?? ''}`)
})

t.test('a unit back while tickets are still in line goes to them first; the waitlist waits for the line', async (t) => {
  const { env, http, eventId } = await waitlistSale(t, 1, '2')
  const buy = buyer(http, env, eventId)
  const read = reader(http, env)
  const [a, b] = [await buy(701), await buy(702)]
  const c = await buy(703)
  t.match(c.ticket, { waitlisted: true, waitlist_place: 1 })
  const owner = await takeShard(env, eventId, 'owner-1')
  await owner.batch([1])
  await canceller(http, env)(701, a.ticket.ticket_id)
  const applied = await owner.applyReturns()
  t.match(applied, { returned: 1 })
  t.ok(applied.waiting > 0, 'the first on the waitlist waits for b, who came before')
  t.match(await read(703, c.ticket.ticket_id), { status: 'sold_out', waitlisted: true, waitlist_place: 1 })
  await owner.batch([2])
  t.match(await read(702, b.ticket.ticket_id), { status: 'won' }, 'b, in line before c arrived, won the unit')
  t.match(await owner.applyReturns(), { returned: 0, waiting: 0 }, 'nothing left to serve')
  await canceller(http, env)(702, b.ticket.ticket_id)
  await owner.applyReturns()
  const cNow = await read(703, c.ticket.ticket_id)
  t.match(cNow, { status: 'queued' }, 'then c is served')
  await owner.batch([3])
  await expectAudit(t, env, eventId)
})

t.test('an owner taken over between the return and the serve changes nothing; the new owner serves', async (t) => {
  const { env, http, eventId } = await waitlistSale(t, 1, '1')
  const buy = buyer(http, env, eventId)
  const read = reader(http, env)
  const a = await buy(801)
  const b = await buy(802)
  const old = await takeShard(env, eventId, 'owner-old')
  await old.batch([1])
  await canceller(http, env)(801, a.ticket.ticket_id)
  const fresh = await takeShard(env, eventId, 'owner-new')
  t.match(await old.applyReturns(), { leaseLost: true, returned: 0 }, 'the former owner is fenced out')
  t.match(await read(802, b.ticket.ticket_id), { status: 'sold_out', waitlisted: true, waitlist_place: 1 }, 'nobody served by it')
  t.equal(await returnsApplied(env, eventId), false, 'the return is still due')
  t.match(await fresh.applyReturns(), { leaseLost: false, returned: 1 })
  const bNow = await read(802, b.ticket.ticket_id)
  t.match(bNow, { status: 'queued' })
  await fresh.batch([2])
  t.match(await read(802, bNow.ticket_id), { status: 'won' })
  await expectAudit(t, env, eventId)
})

t.test('bad settings and calls: a 4xx that changes nothing', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const admin = env.token(1, 'admin')
  const product = await http.request('POST', '/api/v1/admin/products', { token: admin, body: { title: 'Lamp', price_cents: 100 } })
  const start = Date.now() + 60_000
  const body = { product_id: product.body.data.id, title: 'Drop', price_cents: 100, stock: 4, start_at: new Date(start).toISOString(), end_at: new Date(start + 60_000).toISOString() }
  const sharded = await http.request('POST', '/api/v1/admin/events', { token: admin, body: { ...body, shards: 2, waitlist: true } })
  t.same([sharded.status, sharded.body.code], [400, 'BAD_REQUEST'])
  t.match(sharded.body.message, /waitlist.*one shard/)
  t.equal((await http.request('POST', '/api/v1/admin/events', { token: admin, body: { ...body, waitlist: 'yes' } })).status, 400, 'not a boolean')
  const plain = await http.request('POST', '/api/v1/admin/events', { token: admin, body: { ...body, shards: 2 } })
  t.match(plain.body.data, { waitlist: false })
  const patched = await http.request('PATCH', `/api/v1/admin/events/${plain.body.data.id as number}`, { token: admin, body: { waitlist: true } })
  t.same([patched.status, patched.body.code], [400, 'BAD_REQUEST'], 'a waitlist on a two-shard sale, by an edit')
  t.match(await env.db('seckill_events').first('waitlist').where({ id: plain.body.data.id }), { waitlist: 0 }, 'not stored')
  const one = await http.request('PATCH', `/api/v1/admin/events/${plain.body.data.id as number}`, { token: admin, body: { waitlist: true, shards: 1 } })
  t.match(one.body.data, { waitlist: true, shards: 1 }, 'with one shard it is taken')
  const active = await createSale(http, env, { stock: 1 })
  const leave = await http.request('DELETE', `/api/v1/events/${active}/waitlist`, { token: env.token(9) })
  t.same([leave.status, leave.body.code], [409, 'NO_WAITLIST'], 'leaving the waitlist of a sale that keeps none')
  t.equal((await http.request('DELETE', '/api/v1/events/987654/waitlist', { token: env.token(9) })).status, 404)
  t.equal((await http.request('DELETE', `/api/v1/events/${active}/waitlist`)).status, 401)
})

t.test('with the real drain: a cancelled unit goes to the first waitlisted buyer, not to a newcomer', async (t) => {
  const env = await testEnv(t, { GATE_OVERBOOK: '1' })
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 3, fields: { waitlist: true } })
  const buy = buyer(http, env, eventId)
  const read = reader(http, env)
  const answers: Answer[] = []
  for (let u = 900; u < 908; u++) answers.push(await buy(u))
  await until(async () => await saleIdle(env, eventId, 1), 30_000, 'the sale to be decided')
  const outcomes = await Promise.all(answers.map(async (x, i) => await read(900 + i, x.ticket.ticket_id)))
  t.same(outcomes.filter((o) => o.status === 'won').length, 3, 'three winners')
  const waiting = outcomes.map((o, i) => ({ o, u: 900 + i })).filter(({ o }) => o.waitlisted === true).sort((x, y) => (x.o.waitlist_place ?? 0) - (y.o.waitlist_place ?? 0))
  t.same(waiting.map((w) => w.u), [903, 904, 905, 906, 907], 'the five others wait, in arrival order')
  const winner = outcomes.findIndex((o) => o.status === 'won')
  await canceller(http, env)(900 + winner, outcomes[winner]?.ticket_id ?? '')
  const first = waiting[0] as { o: Answer['ticket'], u: number }
  await until(async () => (await read(first.u, first.o.ticket_id)).status === 'won', 30_000, 'the first waitlisted buyer to win')
  const newcomer = await buy(999)
  t.match(newcomer.ticket, { status: 'sold_out', waitlisted: true, waitlist_place: 5 }, 'a newcomer queues behind the four still waiting')
  await until(async () => await returnsApplied(env, eventId) && await saleIdle(env, eventId, 1), 30_000, 'the sale to settle')
  await expectAudit(t, env, eventId)
})

t.test('the look for tickets that lost starts past lost-below and takes at most 2,000 positions a call', async (t) => {
  // Regression: after a rebuild, positions restart millions above the old ones; one look walked the
  // whole empty range in one script and held the shared Redis busy for seconds.
  const env = await testEnv(t)
  const rebuilt = { eventId: 424242, shard: 0 }
  const k = env.keys.shard(rebuilt)
  const w = env.keys.waitlist(rebuilt)
  t.teardown(async () => { await env.redis.del(k.drained, k.lostBelow, k.tickets, k.holders, ...Object.values(w)) })
  await env.redis.set(k.lostBelow, 4_000_000)
  await env.redis.set(k.drained, 4_000_002)
  await env.redis.hset(k.tickets, '4000001', '77|won|9', '4000002', '78|sold_out|')
  await env.redis.hset(k.holders, '77', '4000001', '78', '4000002')
  t.same(await readWaitlist(env.redis, k, w, '78'), { place: 1, held: 4_000_002 }, 'the ticket that lost after the rebuild is on the list')
  t.equal(await env.redis.get(w.cursor), '4000002', 'looked at the two positions past lost-below only')

  const fresh = { eventId: 424243, shard: 0 }
  const k2 = env.keys.shard(fresh)
  const w2 = env.keys.waitlist(fresh)
  t.teardown(async () => { await env.redis.del(k2.drained, ...Object.values(w2)) })
  await env.redis.set(k2.drained, 5_000)
  await readWaitlist(env.redis, k2, w2, '1')
  t.equal(await env.redis.get(w2.cursor), '2000', 'a long range is looked at 2,000 positions a call')
  await readWaitlist(env.redis, k2, w2, '1')
  t.equal(await env.redis.get(w2.cursor), '4000', 'and goes on at the next look')
})
