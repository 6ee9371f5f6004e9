/**
 * Regression tests for the review of the draw mode (branch review, test/review/draw-review.test.ts),
 * one subtest per finding fixed: a draw made with its close already past (R7), the message of a
 * full entry list (finding 7), the window's opening judged on Redis's clock whatever the ingress's
 * clock says (R3, R3b), GET /draw naming who won and who was excluded (R1), its answer built once
 * per ingress (R5), and the audit failing when Redis lost a drawn shard (R2). Against the real
 * Redis and MariaDB.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, startTestService } from '../helpers/sale'
import { orderOf, takeShard } from '../helpers/shard-owner'
import { auditSale, placeAtStart } from '../../src/sale'
import { warmEvent } from '../../src/stock'
import { allShardKeys } from '../../src/redis/keys'
import { closed, readmeCheck, recompute } from '../helpers/draw'
import type { Http } from '../helpers/sale'
import type { Test } from '../helpers/tap-types'
import { drawAnswers, drawView, eventsRepository } from '../../src/catalog'
import type { AdmissionDeps } from '../../src/sale'
import { admitInLine } from '../../src/sale/allocation/first-come'
import { entryWindow } from '../../src/sale/allocation/random-start'
import { newEntryId } from '../../src/sale/allocation/draw'
import { admitRandomStart } from '../../src/redis/commands'
import { skewClock } from '../../src/util/clock'
import { createLogger } from '../../src/logger'

const buyer = (http: Http, env: TestEnv, eventId: number) => async (user: number): Promise<{ status: number, body: any }> => {
  const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })
  return { status: r.status, body: r.body }
}

const liveOrders = async (env: TestEnv, eventId: number): Promise<number[]> =>
  (await env.db('orders').select('user_id').where({ event_id: eventId }).whereIn('status', ['pending_payment', 'paid']).orderBy('id') as Array<{ user_id: number | string }>).map((o) => Number(o.user_id))

async function saleEnv (t: Test, stock: number, closeInMs: number, users: number[], fields: Record<string, unknown> = { mode: 'draw', lead_ms: 60_000 }): Promise<{ env: TestEnv, http: Http, eventId: number }> {
  const env = await testEnv(t, { GATE_OVERBOOK: '1' })
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock, startInMs: closeInMs, fields })
  if (users.length > 0) await env.db('users').insert(users.map((id) => ({ id, email: `u${id}@example.com`, password_hash: null, role: 'user' })))
  return { env, http, eventId }
}

t.test('R7: a draw whose close is already past is a 400 that creates nothing; a PATCH cannot move it there', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const admin = env.token(1, 'admin')
  const product = await http.request('POST', '/api/v1/admin/products', { token: admin, body: { title: 'Lamp', price_cents: 100 } })
  const count = async (): Promise<number> => Number((await env.db('seckill_events').count({ n: '*' }).first() as { n: number | string }).n)
  const body = (start: number): Record<string, unknown> => ({ product_id: product.body.data.id, title: 'Drop', price_cents: 100, stock: 3, mode: 'draw', start_at: new Date(start).toISOString(), end_at: new Date(start + 3_600_000).toISOString() })
  const before = await count()
  const past = await http.request('POST', '/api/v1/admin/events', { token: admin, body: body(Date.now() - 1000) })
  t.same([past.status, past.body.code], [400, 'BAD_REQUEST'], 'a draw closing 1 s ago is refused')
  t.match(past.body.message, /start_at is when a draw closes its entries: it must be in the future/, `the message says why: ${String(past.body.message)}`)
  t.equal(await count(), before, 'nothing was created')
  // A plain sale may still be made already running (it sells from its start on).
  const plain = await http.request('POST', '/api/v1/admin/events', { token: admin, body: { ...body(Date.now() - 1000), mode: 'first_come' } })
  t.equal(plain.status, 201, 'a first-come sale started 1 s ago is still accepted')

  const made = await http.request('POST', '/api/v1/admin/events', { token: admin, body: body(Date.now() + 3_600_000) })
  t.equal(made.status, 201, 'a draw closing in an hour is made')
  const row = async (): Promise<unknown> => await env.db('seckill_events').first().where({ id: made.body.data.id })
  const kept = await row()
  const moved = await http.request('PATCH', `/api/v1/admin/events/${made.body.data.id as number}`, { token: admin, body: { start_at: new Date(Date.now() - 1000).toISOString() } })
  t.same([moved.status, moved.body.code], [400, 'BAD_REQUEST'], `a PATCH moving the close into the past is refused: ${String(moved.body.message)}`)
  t.same(await row(), kept, 'and changes nothing')
})

t.test('finding 7: a full entry list of a draw says so, not "buy again at the start"', async (t) => {
  const users = [701, 702, 711, 712]
  const draw = await saleEnv(t, 1, 30_000, users)
  const plain = await saleEnv(t, 1, 30_000, [], { entry: 'random_at_start', lead_ms: 60_000 })
  const events = eventsRepository(draw.env.db)
  // What admission answers when the shard's entry cap (MAX_ENTRANTS_PER_SHARD, ten million) is
  // reached, with the cap set to one entry: the real script on the real Redis.
  const admitWithCap = async (env: TestEnv, eventId: number, user: string, drawOnly: boolean): Promise<unknown> => {
    const event = await eventsRepository(env.db).findById(eventId)
    if (event === undefined) throw new Error('no event')
    const deps = { redis: env.redis, keys: env.keys, repo: events, overbook: 1, rateLimit: { max: 100, timeWindow: 60_000 }, log: createLogger('silent', 'test') } as unknown as AdmissionDeps
    try {
      return await admitInLine(deps, event, { id: user }, undefined, async (target, userId, token) => await admitRandomStart(env.redis, target, userId, token, entryWindow(event), newEntryId(), 1, drawOnly))
    } catch (err) {
      return { code: (err as { code?: string }).code, message: (err as Error).message }
    }
  }
  t.match(await admitWithCap(draw.env, draw.eventId, '701', true), { kind: 'queued', ticket: { awaiting_draw: true } }, 'the first entry is taken')
  t.same(await admitWithCap(draw.env, draw.eventId, '702', true), { code: 'START_ENTRIES_FULL', message: 'this draw has taken all the entries it can' }, 'a draw: no "buy again at the start"')
  t.equal(await draw.env.redis.hlen(draw.env.keys.shard({ eventId: draw.eventId, shard: 0 }).entrants), 1, 'nobody else was entered')
  t.match(await admitWithCap(plain.env, plain.eventId, '711', false), { kind: 'queued' }, 'a randomized start: the first entry is taken')
  t.same(await admitWithCap(plain.env, plain.eventId, '712', false), { code: 'START_ENTRIES_FULL', message: 'the lead window is full; buy again at the start' }, 'a randomized start does sell at its start: buy again then')
})

t.test('R3: an ingress whose clock runs fast enters nobody before the window opens on Redis\'s clock', async (t) => {
  for (const [kind, fields] of [['draw', { mode: 'draw', lead_ms: 60_000 }], ['randomized start', { entry: 'random_at_start', lead_ms: 60_000 }]] as const) {
    // The close in 150 s, a window of 60 s: entries open at +90 s on every correct clock.
    const { env, http, eventId } = await saleEnv(t, 1, 150_000, [501, 502], fields)
    const buy = buyer(http, env, eventId)
    const k = env.keys.shard({ eventId, shard: 0 })
    const correct = await buy(502)
    t.same([correct.status, correct.body.code], [409, 'EVENT_NOT_STARTED'], `${kind}, a correct ingress: the window has not opened`)
    skewClock(100_000)
    let early
    try {
      early = await buy(501)
    } finally {
      skewClock(0)
    }
    t.same([early.status, early.body.code, early.body.message], [409, 'EVENT_NOT_STARTED', 'the sale has not started'], `${kind}, through an ingress 100 s fast, 60 s before the opening: not started`)
    t.equal(await env.redis.hlen(k.entrants), 0, `${kind}: no entry recorded`)
    t.same(await env.redis.keys(`${k.buyRate}*`), [], `${kind}: not even the rate limit counted`)
  }
})

t.test('R3b: an ingress whose clock runs slow enters buyers inside the window on Redis\'s clock', async (t) => {
  for (const [kind, fields] of [['draw', { mode: 'draw', lead_ms: 60_000 }], ['randomized start', { entry: 'random_at_start', lead_ms: 60_000 }]] as const) {
    // The close in 30 s, a window of 60 s: open now on every correct clock.
    const { env, http, eventId } = await saleEnv(t, 1, 30_000, [511, 512], fields)
    const buy = buyer(http, env, eventId)
    t.equal((await buy(511)).status, 202, `${kind}, a correct ingress: entered`)
    skewClock(-45_000)
    let slow
    try {
      slow = await buy(512)
    } finally {
      skewClock(0)
    }
    t.match([slow.status, slow.body.data], [202, { awaiting_draw: true, entry_id: /^[0-9a-f]{32}$/ }], `${kind}, through an ingress 45 s slow, 30 s before the close: entered`)
    t.equal(await env.redis.hlen(env.keys.shard({ eventId, shard: 0 }).entrants), 2, `${kind}: both entries recorded`)
  }
})

t.test('R1: GET /draw names the buyer who got the unit, and the banned entrant as excluded', async (t) => {
  const entrants = [301, 302, 303]
  const { env, http, eventId } = await saleEnv(t, 1, 6000, entrants)
  const buy = buyer(http, env, eventId)
  const entryOf = new Map<number, string>()
  for (const u of entrants) entryOf.set(u, (await buy(u)).body.data.entry_id)
  const seed = (await env.db('seckill_events').first('start_seed').where({ id: eventId }) as { start_seed: string }).start_seed
  const userOf = new Map([...entryOf].map(([u, e]) => [e, u]))
  const drawn = recompute(seed, [...entryOf.values()])
  const users = drawn.map((e) => userOf.get(e) as number)
  // The entrant the seed ranks first is banned before the close (a bot caught in the window).
  t.equal((await http.request('POST', `/api/v1/admin/users/${users[0] as number}/ban`, { token: env.token(1, 'admin'), body: { reason: 'bot' } })).status, 200)
  await closed(env, eventId)
  const owner = await takeShard(env, eventId, 'owner-1')
  t.match(await placeAtStart({ redis: env.redis, keys: env.keys, events: eventsRepository(env.db) }, { eventId, shard: 0 }, owner.lease.token), { kind: 'placed', count: 3 })
  await owner.batch([1, 2, 3])
  t.same(await liveOrders(env, eventId), [users[1]], 'the unit went to the second drawn')
  const pub = (await http.request('GET', `/api/v1/events/${eventId}/draw`)).body.data
  t.same(pub.winners, [drawn[1]], 'the published winner is the entrant who holds the order')
  t.same(pub.excluded, [drawn[0]], 'the banned entrant is published as excluded (an entry id, naming nobody)')
  t.same(pub.entries, [...drawn].sort(), 'every entry is published, the excluded one too')
  t.match(readmeCheck(t, pub), /^ok: 3 entries, 1 winners, as published \(1 excluded\)/, 'the README\'s script agrees')
  t.match(readmeCheck(t, { ...pub, winners: [drawn[0]] }), /^refused:[\s\S]*not the draw's/, 'and refuses the banned entrant as the winner')
  t.match(readmeCheck(t, { ...pub, excluded: ['f'.repeat(32)] }), /^refused:[\s\S]*is not an entry/, 'and an exclusion that is not an entry')
})

t.test('R5: a drawn draw\'s answer is built once per ingress and kept (a few events, least recently asked evicted)', async (t) => {
  const { env, http, eventId } = await saleEnv(t, 1000, 4000, [])
  const other = await createSale(http, env, { stock: 10, startInMs: 4000, fields: { mode: 'draw', lead_ms: 60_000 } })
  const later = await createSale(http, env, { stock: 10, startInMs: 3_600_000, fields: { mode: 'draw', lead_ms: 60_000 } })
  const events = eventsRepository(env.db)
  const n = 400_000
  const order = Array.from({ length: n }, () => randomBytes(16).toString('hex'))
  await closed(env, other)
  // What the owner records after placing 400,000 entrants.
  await events.recordPlacement(eventId, { shard: 0, base: 0, order })
  await events.recordPlacement(other, { shard: 0, base: 0, order: order.slice(0, 3) })

  const built: number[] = []
  const answers = drawAnswers(events, { maxEvents: 1, build: async (repo, id) => { built.push(id); return await drawView(repo, id) } })
  const first = await answers.json(eventId)
  t.equal(JSON.parse(first).entries.length, n, 'the answer has every entry')
  const [again, crowd] = await Promise.all([answers.json(eventId), answers.json(eventId)])
  t.ok(again === first && crowd === first, 'asked again: the same answer')
  t.same(built, [eventId], 'built once: the second and third requests did not recompute')
  await answers.json(later)
  await answers.json(later)
  t.same(built, [eventId, later, later], 'a draw not drawn yet is built per request (it may still change)')
  t.equal(answers.held(), 1, 'and is not kept')
  await answers.json(other)
  t.same(built, [eventId, later, later, other])
  t.equal(answers.held(), 1, 'bounded: one event kept at most here')
  await answers.json(eventId)
  t.same(built, [eventId, later, later, other, eventId], 'the least recently asked was evicted')
  const fresh = drawAnswers(events, { build: async (repo, id) => { built.push(-id); return await drawView(repo, id) } })
  t.equal(await fresh.json(other), await fresh.json(other))
  t.same(built.filter((id) => id < 0), [-other], 'a fresh cache builds once too')

  // Through the ingress: the second GET is answered without reading MySQL again (the placement is
  // gone from MySQL by then: a rebuilt answer would hide the seed).
  const times: number[] = []
  const bodies: string[] = []
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now()
    const r = await fetch(`${http.base}/api/v1/events/${eventId}/draw`)
    t.match([r.status, r.headers.get('content-type')], [200, /^application\/json/], `answer ${i + 1}: JSON`)
    bodies.push(await r.text())
    times.push(Math.round(performance.now() - t0))
    if (i === 0) await env.db('start_placements').where({ event_id: eventId }).delete()
  }
  t.comment(`GET /draw with ${n} entries: ${bodies[0]?.length ?? 0} characters, ${JSON.stringify(times)} ms`)
  t.equal(bodies[1], bodies[0], 'the second answer is the kept one')
  t.match(JSON.parse(bodies[1] ?? '{}'), { code: 0, message: 'OK', data: { event_id: eventId, seed: /^[0-9a-f]{64}$/, units: 1000 } }, 'the usual envelope')
  t.equal(JSON.parse(bodies[1] ?? '{}').data.entries.length, n)
})

t.test('R2: Redis lost after the draw: the audit fails I5 while units are unsold and published entrants have no answer', async (t) => {
  const entrants = [401, 402, 403, 404, 405]
  const { env, http, eventId } = await saleEnv(t, 2, 6000, entrants)
  const buy = buyer(http, env, eventId)
  const entryOf = new Map<number, string>()
  for (const u of entrants) entryOf.set(u, (await buy(u)).body.data.entry_id)
  await closed(env, eventId)
  const events = eventsRepository(env.db)
  let owner = await takeShard(env, eventId, 'owner-1')
  t.match(await placeAtStart({ redis: env.redis, keys: env.keys, events }, { eventId, shard: 0 }, owner.lease.token), { kind: 'placed', count: 5 })
  const pub = (await http.request('GET', `/api/v1/events/${eventId}/draw`)).body.data
  const userOf = new Map([...entryOf].map(([u, e]) => [e, u]))
  const users = recompute(pub.seed, pub.entries).map((e) => userOf.get(e) as number)
  // The owner decides the first drawn position only, then Redis loses the sale.
  await owner.batch([1])
  t.same(await liveOrders(env, eventId), [users[0]], 'the first drawn won')
  const k = env.keys.shard({ eventId, shard: 0 })
  await env.redis.unlink(...allShardKeys(k), ...Object.values(env.keys.waitlist({ eventId, shard: 0 })), env.keys.event(eventId).soldOut)
  const event = await events.findById(eventId)
  if (event === undefined) throw new Error('no event')
  await warmEvent({ redis: env.redis, keys: env.keys }, event, events)
  owner = await takeShard(env, eventId, 'owner-2')
  await placeAtStart({ redis: env.redis, keys: env.keys, events }, { eventId, shard: 0 }, owner.lease.token)
  t.equal((await buy(users[1] as number)).body.code, 'DRAW_CLOSED', 'the second published winner is refused (the loss, not fixed here)')
  t.equal((await http.request('POST', `/api/v1/orders/${await orderOf(env, `${eventId}-0-1`)}/cancel`, { token: env.token(users[0] as number) })).status, 200, 'the first winner cancels')
  await owner.applyReturns()
  t.same(await liveOrders(env, eventId), [], 'both units unsold')
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  const i5 = audit.checks.find((c) => c.id === 'I5')
  t.comment(audit.checks.map((c) => `${c.id} ${c.ok ? 'ok' : 'FAIL'}: ${c.detail}`).join('\n'))
  t.match(i5, { ok: false, detail: /published entrants without an answer of their own 4 / }, 'I5 fails: the four published entrants who got nothing while both units are unsold')
  t.notOk(audit.ok, 'the audit fails')
  for (const u of users.slice(1, 4)) t.ok(i5?.detail.includes(entryOf.get(u) as string), `entrant ${u} (drawn ${users.indexOf(u) + 1}) is named, by entry id`)
})
