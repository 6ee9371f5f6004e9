/**
 * A draw sale (`mode: "draw"`, src/sale/allocation/draw-sale.ts): the admin API's setting and its
 * refusals; entries in the window with the buy's own checks, the same entry for two tabs and a
 * resubmit; after the close a buyer with no entry is refused (409 DRAW_CLOSED) and nothing
 * changes; the owner draws at the close, the first `stock` in drawn order win and GET /draw (run
 * through the README's own script) publishes exactly that; a cancel serves the first runner-up, in
 * drawn order; an entrant banned before the draw, or while waiting, is never served. Against the
 * real Redis and MariaDB; then a draw run by the real worker.
 */
import t from 'tap'
import { createHash } from 'node:crypto'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, returnsApplied, saleIdle, startTestService, until } from '../helpers/sale'
import type { Http } from '../helpers/sale'
import { expectAudit, orderOf, takeShard } from '../helpers/shard-owner'
import type { Test } from '../helpers/tap-types'
import { auditSale, drawSale, placeAtStart, policyFor } from '../../src/sale'
import { eventsRepository } from '../../src/catalog'
import { closed, readmeCheck, recompute } from '../helpers/draw'

interface Ticket { ticket_id: string, status: string, awaiting_draw?: boolean, entry_id?: string, position?: number, order_id?: string, waitlisted?: boolean, waitlist_place?: number }

const buyer = (http: Http, env: TestEnv, eventId: number) => async (user: number): Promise<{ status: number, body: any, ticket: Ticket }> => {
  const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })
  return { status: r.status, body: r.body, ticket: r.body.data }
}
const reader = (http: Http, env: TestEnv) => async (user: number, ticketId: string): Promise<Ticket> =>
  (await http.request('GET', `/api/v1/tickets/${ticketId}`, { token: env.token(user) })).body.data

async function drawSaleEnv (t: Test, stock: number, closeInMs: number, users: number[]): Promise<{ env: TestEnv, http: Http, eventId: number }> {
  // Ingress only: the test is the shard's owner.
  const env = await testEnv(t, { GATE_OVERBOOK: '1' })
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock, startInMs: closeInMs, fields: { mode: 'draw', lead_ms: 60_000 } })
  if (users.length > 0) await env.db('users').insert(users.map((id) => ({ id, email: `u${id}@example.com`, password_hash: null, role: 'user' })))
  return { env, http, eventId }
}

t.test('policyFor: a draw is stored as entries before the close with a waitlist', async (t) => {
  t.equal(policyFor({ mode: 'draw', entry: 'random_at_start', waitlist: true }), drawSale)
  t.throws(() => policyFor({ mode: 'draw', entry: 'random_at_start', waitlist: false }), /no allocation policy/, 'a draw without its waitlist is not guessed')
  t.match(drawSale, { mode: 'draw', entry: 'random_at_start', waitlist: true, drainOrder: 'queue_position' })
})

t.test('admin API: mode draw is stored as entries before the close with a waitlist; a bad combination is a 400 that changes nothing', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const admin = env.token(1, 'admin')
  const product = await http.request('POST', '/api/v1/admin/products', { token: admin, body: { title: 'Lamp', price_cents: 100 } })
  const start = Date.now() + 3_600_000
  const body = { product_id: product.body.data.id, title: 'Drop', price_cents: 100, stock: 3, start_at: new Date(start).toISOString(), end_at: new Date(start + 60_000).toISOString() }

  const made = await http.request('POST', '/api/v1/admin/events', { token: admin, body: { ...body, mode: 'draw' } })
  t.equal(made.status, 201)
  t.match(made.body.data, { mode: 'draw', entry: 'random_at_start', waitlist: true, shards: 1, lead_ms: 600_000, start_commitment: /^[0-9a-f]{64}$/ }, 'entries before the close, runners-up on the waitlist')
  const id = made.body.data.id as number
  t.match(await env.db('seckill_events').first('allocation_mode', 'entry_mode', 'waitlist').where({ id }), { allocation_mode: 'draw', entry_mode: 'random_at_start', waitlist: 1 })
  const early = await http.request('GET', `/api/v1/events/${id}/draw`)
  t.same([early.status, early.body.data], [200, { event_id: id, commitment: made.body.data.start_commitment, seed: null, units: 3, entries: [], excluded: [], winners: [] }], 'before the close: the commitment only')
  const plain = await http.request('POST', '/api/v1/admin/events', { token: admin, body })
  const notDraw = await http.request('GET', `/api/v1/events/${plain.body.data.id as number}/draw`)
  t.same([notDraw.status, notDraw.body.code], [409, 'NO_DRAW'], 'a sale that is not a draw has no draw')
  t.same((await http.request('GET', '/api/v1/events/999999/draw')).status, 404, 'no such sale')
  t.equal((await http.request('GET', `/api/v1/events/${id}/start-draw`)).status, 200, 'the start draw reads the same commitment')

  const count = async (): Promise<number> => Number((await env.db('seckill_events').count({ n: '*' }).first() as { n: number | string }).n)
  const before = await count()
  for (const [bad, says] of [
    [{ mode: 'draw', shards: 2 }, /mode draw has one shard/],
    [{ mode: 'draw', entry: 'on_start' }, /entry must be random_at_start/],
    [{ mode: 'draw', waitlist: false }, /waitlist must be true/],
    [{ mode: 'draw', proof_of_work: true }, /proof_of_work does not combine with mode draw/],
    [{ mode: 'draw', lead_ms: 10 }, /lead_ms/],
    [{ mode: 'lottery' }, /mode/],
    [{ entry: 'random_at_start', waitlist: true }, /mode draw does/]
  ] as const) {
    const r = await http.request('POST', '/api/v1/admin/events', { token: admin, body: { ...body, ...bad } })
    t.equal(r.status, 400, `create with ${JSON.stringify(bad)}`)
    t.match(r.body.message, says, `the message says why: ${String(r.body.message)}`)
  }
  t.equal(await count(), before, 'nothing was created')
  // Made a draw by an edit: entry and waitlist follow, with a seed.
  const turned = await http.request('PATCH', `/api/v1/admin/events/${plain.body.data.id as number}`, { token: admin, body: { mode: 'draw', lead_ms: 30_000 } })
  t.match(turned.body.data, { mode: 'draw', entry: 'random_at_start', waitlist: true, lead_ms: 30_000, start_commitment: /^[0-9a-f]{64}$/ })
  const split = await http.request('PATCH', `/api/v1/admin/events/${plain.body.data.id as number}`, { token: admin, body: { shards: 2 } })
  t.same([split.status, split.body.code], [400, 'BAD_REQUEST'], 'a draw is not split into shards by an edit either')
  t.match(await env.db('seckill_events').first('shards').where({ id: plain.body.data.id }), { shards: 1 }, 'unchanged')
})

t.test('entries, the close, the draw, GET /draw through the README\'s script, and a cancel served to the first runner-up', async (t) => {
  const entrants = [101, 102, 103, 104, 105, 106]
  const { env, http, eventId } = await drawSaleEnv(t, 2, 6000, [...entrants, 201])
  const buy = buyer(http, env, eventId)
  const read = reader(http, env)
  const k = env.keys.shard({ eventId, shard: 0 })

  const entered: Ticket[] = []
  for (const u of entrants.slice(0, 5)) {
    const r = await buy(u)
    t.match([r.status, r.ticket], [202, { ticket_id: `${eventId}-0-x${u}`, status: 'queued', awaiting_draw: true, entry_id: /^[0-9a-f]{32}$/ }], `buyer ${u} entered`)
    entered.push(r.ticket)
  }
  // Two tabs at once, then a resubmit: one entry.
  const [tab1, tab2] = await Promise.all([buy(106), buy(106)])
  t.equal(tab1.ticket.entry_id, tab2.ticket.entry_id, 'two tabs at once get the same entry')
  t.same([tab1.status, tab2.status].sort(), [200, 202], 'one entered, the other was told the same entry')
  entered.push(tab1.ticket)
  t.same((await buy(106)).ticket, tab1.ticket, 'asking again: the same entry (I7)')
  t.equal(await env.redis.hlen(k.entrants), 6, 'six entries')
  t.same((await read(103, entered[2]?.ticket_id ?? '')), entered[2], 'the poll: in, drawn at the close')

  await closed(env, eventId)
  const snapshot = async (): Promise<unknown> => await Promise.all([env.redis.hgetall(k.entrants), env.redis.hgetall(k.holders), env.redis.get(k.qseq), env.redis.get(k.pending), env.redis.smembers(k.rejected), env.db('orders').where({ event_id: eventId }).count({ n: '*' }).first()])
  // A buyer with no entry after the close, before the owner drew: refused, and it changes nothing
  // (the refusal seals the list, as the owner would: the seal, not a clock, closes the entries).
  const late = await buy(201)
  t.same([late.status, late.body.code, late.body.message], [409, 'DRAW_CLOSED', 'entries for this draw are closed'], 'no entry after the close')
  t.equal(await env.redis.get(k.startSeal), '0:6', 'the list is sealed with the six entries')
  const sealed = await snapshot()
  t.same((await buy(201)).status, 409, 'and again')
  t.same(await snapshot(), sealed, 'the refusals changed nothing')
  t.match((await buy(103)).ticket, { entry_id: entered[2]?.entry_id, awaiting_draw: true }, 'an entrant asking after the close keeps the entry')

  const owner = await takeShard(env, eventId, 'owner-1')
  const events = eventsRepository(env.db)
  t.match(await placeAtStart({ redis: env.redis, keys: env.keys, events }, { eventId, shard: 0 }, owner.lease.token), { kind: 'placed', base: 0, count: 6 })
  const seed = (await env.db('seckill_events').first('start_seed').where({ id: eventId }) as { start_seed: string }).start_seed
  const drawn = recompute(seed, entered.map((e) => e.entry_id ?? ''))
  const userOf = new Map(entered.map((e, i) => [e.entry_id ?? '', entrants[i] as number]))
  const users = drawn.map((e) => userOf.get(e) as number)

  const pub = await http.request('GET', `/api/v1/events/${eventId}/draw`)
  t.same(pub.body.data, {
    event_id: eventId,
    commitment: createHash('sha256').update(Buffer.from(seed, 'hex')).digest('hex'),
    seed,
    units: 2,
    entries: entered.map((e) => e.entry_id).sort(),
    excluded: [],
    winners: drawn.slice(0, 2)
  }, 'the draw published: the first two in drawn order win')
  t.match(readmeCheck(t, pub.body.data), /^ok: 6 entries, 2 winners, as published/, 'the README\'s script agrees')
  t.match(readmeCheck(t, { ...pub.body.data, winners: [drawn[0], drawn[2]] }), /^refused:[\s\S]*not the draw's/, 'and refuses another result')

  await owner.batch([1, 2, 3, 4, 5, 6])
  const outcomes = await Promise.all(users.map(async (u) => await read(u, `${eventId}-0-x${u}`)))
  t.match(outcomes, [
    { status: 'won' }, { status: 'won' },
    { status: 'sold_out', waitlisted: true, waitlist_place: 1 },
    { status: 'sold_out', waitlisted: true, waitlist_place: 2 },
    { status: 'sold_out', waitlisted: true, waitlist_place: 3 },
    { status: 'sold_out', waitlisted: true, waitlist_place: 4 }
  ], 'the winners won; the runners-up wait in drawn order')
  const orderUsers = (await env.db('orders').select('user_id').where({ event_id: eventId }).orderBy('id') as Array<{ user_id: number | string }>).map((o) => Number(o.user_id))
  t.same(orderUsers.sort(), users.slice(0, 2).sort(), 'orders went to the published winners, nobody else')
  t.match((await buy(users[3] as number)).ticket, { status: 'sold_out', waitlisted: true, waitlist_place: 2 }, 'a runner-up asking again: the same place (I7)')
  t.same((await buy(201)).body.code, 'DRAW_CLOSED', 'still closed to newcomers')

  // The first winner cancels: the unit goes to the first runner-up, not to the others.
  const first = users[0] as number
  const firstTicket = outcomes[0]?.ticket_id ?? ''
  const cancel = await http.request('POST', `/api/v1/orders/${await orderOf(env, firstTicket)}/cancel`, { token: env.token(first) })
  t.equal(cancel.status, 200, 'the first winner cancels')
  t.match(await owner.applyReturns(), { leaseLost: false, returned: 1 })
  const served = await read(users[2] as number, `${eventId}-0-x${users[2] as number}`)
  t.match(served, { ticket_id: `${eventId}-0-7`, status: 'queued' }, 'the first runner-up got a ticket with the unit')
  t.match(await read(users[3] as number, `${eventId}-0-x${users[3] as number}`), { waitlisted: true, waitlist_place: 1 }, 'the next moves up')
  await owner.batch([7])
  t.match(await read(users[2] as number, served.ticket_id), { status: 'won', order_id: /\d+/ }, 'the first runner-up won the returned unit')
  await expectAudit(t, env, eventId)
  t.ok((await auditSale(env.db, env.redis, env.keys, eventId)).checks.some((c) => c.id === 'I4D'), 'the audit checks the draw')
  // The audit can fail: the second drawn winner recorded as a loser, and a ticket for a buyer who never entered.
  await env.redis.hset(k.tickets, '2', `${users[1] as number}|sold_out|`, '8', '201|queued|')
  const i4d = (await auditSale(env.db, env.redis, env.keys, eventId)).checks.find((c) => c.id === 'I4D')
  t.match(i4d, { ok: false, detail: /drawn 2 of 2 winners is sold_out.*201, who never entered/ }, `I4D fails: ${i4d?.detail ?? ''}`)
})

t.test('an entrant banned before the draw, or while on the waitlist, is never served', async (t) => {
  const entrants = [301, 302, 303, 304]
  const { env, http, eventId } = await drawSaleEnv(t, 1, 6000, entrants)
  const buy = buyer(http, env, eventId)
  const read = reader(http, env)
  const admin = env.token(1, 'admin')
  const entryOf = new Map<number, string>()
  for (const u of entrants) entryOf.set(u, (await buy(u)).ticket.entry_id ?? '')
  const seed = (await env.db('seckill_events').first('start_seed').where({ id: eventId }) as { start_seed: string }).start_seed
  const userOf = new Map([...entryOf].map(([u, e]) => [e, u]))
  const users = recompute(seed, [...entryOf.values()]).map((e) => userOf.get(e) as number)
  // The entrant the seed ranks first is banned in the window; the third while waiting.
  t.equal((await http.request('POST', `/api/v1/admin/users/${users[0] as number}/ban`, { token: admin, body: { reason: 'bot' } })).status, 200)

  await closed(env, eventId)
  const owner = await takeShard(env, eventId, 'owner-1')
  t.match(await placeAtStart({ redis: env.redis, keys: env.keys, events: eventsRepository(env.db) }, { eventId, shard: 0 }, owner.lease.token), { kind: 'placed', count: 4 })
  await owner.batch([1, 2, 3, 4])
  const ordered = async (): Promise<number[]> => (await env.db('orders').select('user_id').where({ event_id: eventId }).orderBy('id') as Array<{ user_id: number | string }>).map((o) => Number(o.user_id))
  t.same(await ordered(), [users[1]], 'the banned first drawn gets nothing: the unit goes to the next in drawn order')
  // Read as the admin: a ban ends the buyer's sessions.
  t.match((await http.request('GET', `/api/v1/tickets/${eventId}-0-x${users[0] as number}`, { token: admin })).body.data, { status: 'failed', reason: 'banned' }, 'the banned entrant\'s ticket failed')
  t.match(await read(users[2] as number, `${eventId}-0-x${users[2] as number}`), { status: 'sold_out', waitlisted: true, waitlist_place: 1 })

  t.equal((await http.request('POST', `/api/v1/admin/users/${users[2] as number}/ban`, { token: admin, body: { reason: 'bot' } })).status, 200)
  const winner = users[1] as number
  t.equal((await http.request('POST', `/api/v1/orders/${await orderOf(env, `${eventId}-0-2`)}/cancel`, { token: env.token(winner) })).status, 200, 'the winner cancels')
  await owner.applyReturns()
  t.match(await read(users[3] as number, `${eventId}-0-x${users[3] as number}`), { ticket_id: `${eventId}-0-5`, status: 'queued' }, 'the runner-up banned while waiting is skipped: the next one is served')
  await owner.batch([5])
  t.same((await ordered()).slice(1), [users[3]], 'and only they got the returned unit')
  await expectAudit(t, env, eventId)
})

t.test('the real worker draws at the close, serves a return to the first runner-up; README\'s script agrees; audited', async (t) => {
  const env = await testEnv(t, { GATE_OVERBOOK: '1' })
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 3, startInMs: 5000, fields: { mode: 'draw', lead_ms: 60_000 } })
  const buy = buyer(http, env, eventId)
  const read = reader(http, env)
  const entrants = Array.from({ length: 8 }, (_, i) => 401 + i)
  const entered = await Promise.all(entrants.map(async (u) => await buy(u)))
  t.ok(entered.every((e) => e.status === 202 && e.ticket.awaiting_draw === true), 'eight entries')
  await until(async () => (await http.request('GET', `/api/v1/events/${eventId}/draw`)).body.data.seed !== null, 30_000, 'the draw to be published')
  await until(async () => await saleIdle(env, eventId, 1), 30_000, 'the sale to settle')
  const pub = (await http.request('GET', `/api/v1/events/${eventId}/draw`)).body.data
  t.match(readmeCheck(t, pub), /^ok: 8 entries, 3 winners/, 'the README\'s script agrees with the published draw')
  const userOf = new Map(entered.map((e, i) => [e.ticket.entry_id ?? '', entrants[i] as number]))
  const users = recompute(pub.seed, pub.entries).map((e) => userOf.get(e) as number)
  const orders = async (): Promise<number[]> => (await env.db('orders').select('user_id').where({ event_id: eventId }).orderBy('id') as Array<{ user_id: number | string }>).map((o) => Number(o.user_id))
  t.same((await orders()).sort(), users.slice(0, 3).sort(), 'orders for exactly the published winners')
  t.same((await buy(999)).body.code, 'DRAW_CLOSED', 'a newcomer is refused')

  const loser = users[3] as number
  const winner = users[0] as number
  const won = await read(winner, `${eventId}-0-x${winner}`)
  t.equal((await http.request('POST', `/api/v1/orders/${won.order_id ?? ''}/cancel`, { token: env.token(winner) })).status, 200, 'a winner cancels')
  await until(async () => await returnsApplied(env, eventId), 30_000, 'the return to be applied')
  await until(async () => (await read(loser, `${eventId}-0-x${loser}`)).status === 'won', 30_000, 'the first runner-up to win the unit')
  t.match(await read(users[4] as number, `${eventId}-0-x${users[4] as number}`), { status: 'sold_out', waitlisted: true, waitlist_place: 1 }, 'the second runner-up is next')
  await until(async () => await saleIdle(env, eventId, 1), 30_000, 'the sale to settle again')
  await expectAudit(t, env, eventId)
})
