/**
 * Randomized start (src/sale/allocation/random-start.ts, start-placement.ts, lua/admitRandomStart,
 * lua/placeEntrants): the admin API's setting and its refusals, entries in the lead window with the
 * buy's own checks, and the placement at the start by the shard's owner -- two owners, a stalled
 * one that wakes late, a crash between chunks, a buy arriving before the placement -- against the
 * real Redis and MariaDB; then a sale placed by the real worker.
 */
import t from 'tap'
import { createHash, createHmac } from 'node:crypto'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, saleIdle, startTestService, until } from '../helpers/sale'
import type { Http } from '../helpers/sale'
import { expectAudit, takeShard } from '../helpers/shard-owner'
import type { Test } from '../helpers/tap-types'
import { auditSale, placeAtStart } from '../../src/sale'
import { eventsRepository } from '../../src/catalog'
import { Admit, Place, admitRandomStart, placeEntrants } from '../../src/redis/commands'
import { ticketIdPrefix } from '../../src/shared/ticket-ids'
import { MAX_ENTRANTS_PER_SHARD } from '../../src/shared/allocation'
import { allShardKeys } from '../../src/redis/keys'
import { warmEvent } from '../../src/stock'

interface Ticket { ticket_id: string, status: string, awaiting_draw?: boolean, entry_id?: string, position?: number, order_id?: string, reason?: string }

const buyer = (http: Http, env: TestEnv, eventId: number) => async (user: number, headers: Record<string, string> = {}): Promise<{ status: number, body: any, ticket: Ticket }> => {
  const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user), headers })
  return { status: r.status, body: r.body, ticket: r.body.data }
}
const reader = (http: Http, env: TestEnv) => async (user: number, ticketId: string): Promise<Ticket> =>
  (await http.request('GET', `/api/v1/tickets/${ticketId}`, { token: env.token(user) })).body.data

/** The README's check of a start draw: the order each shard placed, recomputed from the seed. */
function recompute (seed: string, entries: readonly string[]): string[] {
  const key = (id: string): string => createHmac('sha256', Buffer.from(seed, 'hex')).update(id).digest('hex')
  return entries.map((id) => [key(id), id] as const).sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1).map(([, id]) => id)
}

/** Waits until the sale's start has passed on MySQL's clock. */
async function started (env: TestEnv, eventId: number): Promise<void> {
  const events = eventsRepository(env.db)
  await until(async () => (await events.msUntilStart(eventId) ?? 1) <= 0, 30_000, 'the start on MySQL\'s clock')
}

async function leadSale (t: Test, stock: number, startInMs: number, fields: Record<string, unknown> = {}, overbook = '10'): Promise<{ env: TestEnv, http: Http, eventId: number }> {
  // Ingress only: the test is the shard's owner.
  const env = await testEnv(t, { GATE_OVERBOOK: overbook })
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock, startInMs, fields: { entry: 'random_at_start', ...fields } })
  return { env, http, eventId }
}

t.test('admin API: random_at_start with its lead window is stored, shown with its commitment; bad values are a 400 that changes nothing', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const admin = env.token(1, 'admin')
  const product = await http.request('POST', '/api/v1/admin/products', { token: admin, body: { title: 'Lamp', price_cents: 100 } })
  const start = Date.now() + 3_600_000
  const body = { product_id: product.body.data.id, title: 'Drop', price_cents: 100, stock: 3, start_at: new Date(start).toISOString(), end_at: new Date(start + 60_000).toISOString() }

  const made = await http.request('POST', '/api/v1/admin/events', { token: admin, body: { ...body, entry: 'random_at_start' } })
  t.equal(made.status, 201)
  t.match(made.body.data, { mode: 'first_come', entry: 'random_at_start', lead_ms: 600_000, start_commitment: /^[0-9a-f]{64}$/ }, 'the default lead window, and the commitment, shown')
  const id = made.body.data.id as number
  const row = await env.db('seckill_events').first('start_seed', 'start_commitment').where({ id }) as { start_seed: string, start_commitment: string }
  t.equal(createHash('sha256').update(Buffer.from(row.start_seed, 'hex')).digest('hex'), row.start_commitment, 'the commitment is SHA-256 of the stored seed')
  t.equal(made.body.data.start_commitment, row.start_commitment)
  t.notOk(JSON.stringify((await http.request('GET', `/api/v1/events/${id}`)).body).includes(row.start_seed), 'the seed is in no answer before the start')
  const early = await http.request('GET', `/api/v1/events/${id}/start-draw`)
  t.same([early.status, early.body.data], [200, { event_id: id, commitment: row.start_commitment, seed: null, shards: [] }], 'the draw shows the commitment only')
  const own = await http.request('POST', '/api/v1/admin/events', { token: admin, body: { ...body, entry: 'random_at_start', lead_ms: 120_000 } })
  t.match(own.body.data, { lead_ms: 120_000 }, 'a lead window of its own')
  const plain = await http.request('POST', '/api/v1/admin/events', { token: admin, body })
  t.match(plain.body.data, { entry: 'on_start', lead_ms: null, start_commitment: null })
  const noDraw = await http.request('GET', `/api/v1/events/${plain.body.data.id as number}/start-draw`)
  t.same([noDraw.status, noDraw.body.code], [409, 'NO_START_DRAW'], 'a sale without a randomized start has no start draw')

  const count = async (): Promise<number> => Number((await env.db('seckill_events').count({ n: '*' }).first() as { n: number | string }).n)
  const before = await count()
  for (const [bad, says] of [
    [{ entry: 'random_at_start', waitlist: true }, /waitlist/],
    [{ lead_ms: 60_000 }, /lead_ms is for entry random_at_start/],
    [{ entry: 'random_at_start', lead_ms: 0 }, /lead_ms/],
    [{ entry: 'random_at_start', lead_ms: 999 }, /lead_ms/],
    [{ entry: 'random_at_start', lead_ms: 86_400_001 }, /lead_ms/],
    [{ entry: 'random_at_start', lead_ms: 1.5 }, /lead_ms/],
    [{ entry: 'random-at-start' }, /entry/]
  ] as const) {
    const r = await http.request('POST', '/api/v1/admin/events', { token: admin, body: { ...body, ...bad } })
    t.equal(r.status, 400, `create with ${JSON.stringify(bad)}`)
    t.match(r.body.message, says, `the message says why: ${String(r.body.message)}`)
  }
  t.equal(await count(), before, 'nothing was created')
  const patched = await http.request('PATCH', `/api/v1/admin/events/${plain.body.data.id as number}`, { token: admin, body: { lead_ms: 60_000 } })
  t.same([patched.status, patched.body.code], [400, 'BAD_REQUEST'], 'a lead window on a sale that is not random_at_start')
  t.match(await env.db('seckill_events').first('lead_ms', 'start_seed').where({ id: plain.body.data.id }), { lead_ms: null, start_seed: null }, 'unchanged')

  // Made random_at_start by an edit: a seed and commitment then; a second edit keeps them.
  const turned = await http.request('PATCH', `/api/v1/admin/events/${plain.body.data.id as number}`, { token: admin, body: { entry: 'random_at_start', lead_ms: 30_000 } })
  t.match(turned.body.data, { entry: 'random_at_start', lead_ms: 30_000, start_commitment: /^[0-9a-f]{64}$/ })
  const again = await http.request('PATCH', `/api/v1/admin/events/${plain.body.data.id as number}`, { token: admin, body: { entry: 'random_at_start', title: 'Drop 2' } })
  t.equal(again.body.data.start_commitment, turned.body.data.start_commitment, 'an edit keeps the committed seed')

  // Once the lead window is open, the sale cannot be changed or deleted (an edit clears Redis).
  const soon = await http.request('POST', '/api/v1/admin/events', { token: admin, body: { ...body, start_at: new Date(Date.now() + 120_000).toISOString(), entry: 'random_at_start', lead_ms: 600_000 } })
  const edit = await http.request('PATCH', `/api/v1/admin/events/${soon.body.data.id as number}`, { token: admin, body: { title: 'Changed' } })
  t.same([edit.status, edit.body.code], [409, 'EVENT_NOT_EDITABLE'], 'no edit inside the lead window')
  t.match(edit.body.message, /lead window/)
  const del = await http.request('DELETE', `/api/v1/admin/events/${soon.body.data.id as number}`, { token: admin })
  t.same([del.status, del.body.code], [409, 'EVENT_NOT_EDITABLE'], 'no delete inside the lead window')
})

t.test('lead window: entries with the buy\'s checks, idempotent; a buy after the start queues behind every entrant; the owner places them in drawn order, fenced', async (t) => {
  const { env, http, eventId } = await leadSale(t, 3, 4000)
  const buy = buyer(http, env, eventId)
  const read = reader(http, env)
  const k = env.keys.shard({ eventId, shard: 0 })

  const entrants = [101, 102, 103, 104, 105, 106]
  const entered: Ticket[] = []
  for (const u of entrants) {
    const r = await buy(u)
    t.equal(r.status, 202, `buyer ${u} is in`)
    t.match(r.ticket, { ticket_id: `${eventId}-0-x${u}`, status: 'queued', awaiting_draw: true, entry_id: /^[0-9a-f]{32}$/ })
    t.notOk('position' in r.ticket, 'no place before the draw')
    entered.push(r.ticket)
  }
  const resubmit = await buy(102)
  t.same([resubmit.status, resubmit.ticket], [200, entered[1]], 'asking again gives the same entry (I7)')
  t.same(await read(102, entered[1]?.ticket_id ?? ''), entered[1], 'the poll says: in, the place drawn at the start')
  t.same((await http.request('GET', `/api/v1/events/${eventId}/ticket`, { token: env.token(103) })).body.data, entered[2], 'the buyer\'s own ticket for the sale')
  t.equal((await http.request('GET', `/api/v1/tickets/${entered[1]?.ticket_id ?? ''}`, { token: env.token(999) })).status, 404, 'nobody else reads it')
  // The buy's own refusals hold in the lead window.
  await env.redis.sadd(k.banned, '107')
  const banned = await buy(107)
  t.same([banned.status, banned.body.code], [403, 'ACCOUNT_BANNED'], 'a banned buyer does not enter')
  t.equal(await env.redis.hexists(k.entrants, '107'), 0)
  t.equal(Number(await env.redis.get(k.qseq) ?? 0), 0, 'no queue position handed out in the lead window')

  await started(env, eventId)
  // A buy after the start, before the owner placed anyone: it seals the entries and queues behind them.
  const late = await buy(201)
  t.equal(late.status, 202)
  t.match(late.ticket, { ticket_id: `${eventId}-0-7`, status: 'queued' }, 'position 7: the six entrants\' places are kept')
  t.equal(await env.redis.get(k.startSeal), '0:6', 'sealed with six entrants from position 1')
  const tooLate = await buy(202)
  t.match(tooLate.ticket, { ticket_id: `${eventId}-0-8` }, 'and the next one behind it')
  // An ingress that still believes the start is later, after the seal: queued behind, not entered.
  const target = { k, q: env.keys.buyQueue({ eventId, shard: 0 }), ticketPrefix: ticketIdPrefix(eventId, 0), overbook: 10, rate: { max: 1000, timeWindow: 1000 } }
  t.match(await admitRandomStart(env.redis, target, '203', undefined, { startAtMs: Date.now() + 600_000, opensAtMs: 0 }, 'ab'.repeat(16), MAX_ENTRANTS_PER_SHARD), { code: Admit.QUEUED, qpos: 9 }, 'the seal decides, not the ingress\'s view of the start')
  t.equal(await env.redis.hexists(k.entrants, '203'), 0)
  t.match(await read(101, entered[0]?.ticket_id ?? ''), { awaiting_draw: true }, 'entrants wait for the owner')

  // Owner A places the first chunk of two, then stalls; owner B takes over (a new fencing token).
  const seed = (await env.db('seckill_events').first('start_seed').where({ id: eventId }) as { start_seed: string }).start_seed
  const drawn = recompute(seed, entered.map((e) => e.entry_id ?? ''))
  const userOf = new Map(entered.map((e, i) => [e.entry_id ?? '', entrants[i] as number]))
  const q = env.keys.buyQueue({ eventId, shard: 0 })
  const prefix = ticketIdPrefix(eventId, 0)
  const a = await takeShard(env, eventId, 'owner-a')
  const chunk = (from: number, n: number): string[] => drawn.slice(from, from + n).map((e) => `${userOf.get(e) as number}:${e}`)
  t.match(await placeEntrants(env.redis, k, q, prefix, a.lease.token, 0, 6, chunk(0, 2)), { code: Place.DONE, base: 0, sealed: 6, placed: 2 })
  t.match(await placeEntrants(env.redis, k, q, prefix, a.lease.token, 0, 6, chunk(0, 2)), { code: Place.STALE, placed: 2 }, 'the same chunk twice places nobody twice')
  const b = await takeShard(env, eventId, 'owner-b')
  t.match(await placeEntrants(env.redis, k, q, prefix, a.lease.token, 2, 6, chunk(2, 2)), { code: Place.LEASE_LOST }, 'the stalled owner wakes late: refused')
  t.equal(await env.redis.get(k.startPlaced), '2', 'and changed nothing')
  t.match(await placeEntrants(env.redis, k, q, prefix, b.lease.token, 2, 6, [`${userOf.get(drawn[3] ?? '') as number}:${drawn[2] ?? ''}`]), { code: Place.REFUSED }, 'a buyer with another\'s entry id is refused')
  // Owner B goes on from where A stopped, twice at once (two loops of one owner): nothing twice.
  const deps = { redis: env.redis, keys: env.keys, events: eventsRepository(env.db) }
  const [p1, p2] = await Promise.all([placeAtStart(deps, { eventId, shard: 0 }, b.lease.token, 3), placeAtStart(deps, { eventId, shard: 0 }, b.lease.token, 3)])
  t.match([p1, p2], [{ kind: 'placed', base: 0, count: 6 }, { kind: 'placed', base: 0, count: 6 }])
  t.match(await placeAtStart(deps, { eventId, shard: 0 }, a.lease.token), { kind: 'lease_lost' }, 'the former owner places nothing')

  const held = await env.redis.hgetall(k.holders)
  t.same(drawn.map((e) => Number(held[String(userOf.get(e))])), [1, 2, 3, 4, 5, 6], 'each entrant holds the place the seed draws')
  t.same([held['201'], held['202'], held['203']], ['7', '8', '9'], 'the buys after the start come after them, in arrival order')
  const first = drawn[0] ?? ''
  t.match(await read(userOf.get(first) as number, `${eventId}-0-x${String(userOf.get(first))}`), { ticket_id: `${eventId}-0-1`, status: 'queued', position: 1 }, 'the entry now leads to the placed ticket')
  t.equal((await buy(userOf.get(first) as number)).ticket.ticket_id, `${eventId}-0-1`, 'and asking again gives it (I7)')
  t.equal(Number(await env.redis.llen(q.wait)), 9, 'every placed entrant has its job, with the three buys after the start')

  // The draw is public now, and checks out.
  const pub = await http.request('GET', `/api/v1/events/${eventId}/start-draw`)
  t.same(pub.body.data, { event_id: eventId, commitment: createHash('sha256').update(Buffer.from(seed, 'hex')).digest('hex'), seed, shards: [{ shard: 0, first_position: 1, order: drawn }] }, 'seed revealed with the placed order')
  t.same(recompute(pub.body.data.seed, [...pub.body.data.shards[0].order].sort()), pub.body.data.shards[0].order, 'anyone recomputes the order from the seed')

  await b.batch([1, 2, 3, 4, 5, 6, 7, 8, 9])
  t.same(await Promise.all(drawn.map(async (e) => (await read(userOf.get(e) as number, `${eventId}-0-x${String(userOf.get(e))}`)).status)), ['won', 'won', 'won', 'sold_out', 'sold_out', 'sold_out'], 'three units: the first three drawn win')
  t.equal((await read(201, late.ticket.ticket_id)).status, 'sold_out', 'the buy after the start, behind them all, did not')
  await expectAudit(t, env, eventId)
  t.ok((await auditSale(env.db, env.redis, env.keys, eventId)).checks.some((c) => c.id === 'I4R'), 'the audit checks the placement')

  // The audit can fail: two entrants swapped in Redis.
  const [x, y] = [String(userOf.get(drawn[0] ?? '')), String(userOf.get(drawn[1] ?? ''))]
  await env.redis.hset(k.holders, x, '2', y, '1')
  const i4r = (await auditSale(env.db, env.redis, env.keys, eventId)).checks.find((c) => c.id === 'I4R')
  t.match(i4r, { ok: false, detail: /drawn to 1/ }, `I4R fails on a swapped placement: ${i4r?.detail ?? ''}`)
})

t.test('before the lead window: 409; with a buy token: the entry uses it up', async (t) => {
  const { env, http, eventId } = await leadSale(t, 2, 3_600_000, { lead_ms: 60_000 })
  const early = await buyer(http, env, eventId)(301)
  t.same([early.status, early.body.code], [409, 'EVENT_NOT_STARTED'], 'the lead window has not opened')
  const admin = env.token(1, 'admin')
  const product = await http.request('POST', '/api/v1/admin/products', { token: admin, body: { title: 'Lamp', price_cents: 100 } })
  const start = Date.now() + 300_000
  const tokenSale = await http.request('POST', '/api/v1/admin/events', {
    token: admin,
    body: { product_id: product.body.data.id, title: 'Drop', price_cents: 100, stock: 2, start_at: new Date(start).toISOString(), end_at: new Date(start + 60_000).toISOString(), entry: 'random_at_start', require_token: true }
  })
  const id = tokenSale.body.data.id as number
  const buy = buyer(http, env, id)
  const none = await buy(302)
  t.same([none.status, none.body.code], [403, 'BUY_TOKEN_INVALID'], 'no token, no entry')
  const issued = await http.request('POST', `/api/v1/events/${id}/token`, { token: env.token(302) })
  t.equal(issued.status, 200, 'tokens are issued in the lead window')
  const withToken = await buy(302, { 'x-buy-token': issued.body.data.token })
  t.match(withToken, { status: 202, ticket: { awaiting_draw: true } }, 'entered with the token')
  const reused = await buy(303, { 'x-buy-token': issued.body.data.token })
  t.same([reused.status, reused.body.code], [403, 'BUY_TOKEN_INVALID'], 'another buyer cannot use it')
  t.equal(await env.redis.hexists(env.keys.shard({ eventId: id, shard: 0 }).buyTokens, '302'), 0, 'used up')
})

t.test('the real worker places the lead window at the start; later buyers after them; settles and audits', async (t) => {
  const env = await testEnv(t, { GATE_OVERBOOK: '10' })
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 4, startInMs: 4000, shards: 2, fields: { entry: 'random_at_start' } })
  const buy = buyer(http, env, eventId)
  const entrants = Array.from({ length: 10 }, (_, i) => 401 + i)
  const entered = await Promise.all(entrants.map(async (u) => await buy(u)))
  t.ok(entered.every((e) => e.status === 202 && e.ticket.awaiting_draw === true), 'ten buyers in, on two shards')
  await started(env, eventId)
  const later = [await buy(501), await buy(502)]
  t.ok(later.every((l) => l.status === 202 || l.status === 200), 'buys after the start are answered')
  // Revealed once both shards placed their entrants; only then is "idle" the end of the sale.
  await until(async () => (await http.request('GET', `/api/v1/events/${eventId}/start-draw`)).body.data.seed !== null, 30_000, 'the seed to be revealed')
  await until(async () => await saleIdle(env, eventId, 2), 30_000, 'the sale to settle')
  const pub = (await http.request('GET', `/api/v1/events/${eventId}/start-draw`)).body.data
  t.equal(pub.shards.length, 2, 'both shards recorded their placement')
  t.equal(pub.shards.reduce((n: number, s: { order: string[] }) => n + s.order.length, 0), 10, 'every entrant placed')
  for (const s of pub.shards) t.same(recompute(pub.seed, [...s.order].sort()), s.order, `shard ${String(s.shard)}: the order is the seed's`)
  await expectAudit(t, env, eventId)
})

t.test('Redis loses the shard: entries lost in the lead window read lost and may enter again; after the placement a rebuilt shard places nobody twice', async (t) => {
  // Four units for three entrants: one is left for a buyer after the rebuild.
  const { env, http, eventId } = await leadSale(t, 4, 4000)
  const buy = buyer(http, env, eventId)
  const read = reader(http, env)
  const k = env.keys.shard({ eventId, shard: 0 })
  const lose = async (): Promise<void> => { await env.redis.del(...allShardKeys(k)) }

  const first = await buy(601)
  await lose()
  t.same(await read(601, first.ticket.ticket_id), { ticket_id: first.ticket.ticket_id, status: 'failed', reason: 'lost_in_redis' }, 'an entry lost with Redis reads lost')
  const again = await buy(601)
  t.match(again, { status: 202, ticket: { ticket_id: first.ticket.ticket_id, awaiting_draw: true } }, 'the buyer enters again (the shard is warmed again)')
  t.not(again.ticket.entry_id, first.ticket.entry_id, 'with a new entry id')
  for (const u of [602, 603]) t.equal((await buy(u)).status, 202)

  await started(env, eventId)
  const owner = await takeShard(env, eventId, 'owner-1')
  const deps = { redis: env.redis, keys: env.keys, events: eventsRepository(env.db) }
  // The entry lost in the lead window rebuilt the shard: its positions start past the rebuild's
  // floor (for a randomized start, past every position the seal could hand out).
  const first3 = await placeAtStart(deps, { eventId, shard: 0 }, owner.lease.token)
  t.match(first3, { kind: 'placed', count: 3 })
  const base = first3.kind === 'placed' ? first3.base : 0
  t.ok(base >= MAX_ENTRANTS_PER_SHARD, `placed from past the rebuild's floor (${base})`)
  await owner.batch([base + 1, base + 2, base + 3])

  // Lost again after the placement: the rebuild starts past every position handed out; the first
  // buy after it seals the rebuilt shard with nobody to place, and queues.
  await lose()
  const events = eventsRepository(env.db)
  await warmEvent(env, await events.findById(eventId) as NonNullable<Awaited<ReturnType<typeof events.findById>>>, events)
  const late = await buy(604)
  t.equal(late.status, 202, 'a buy after the rebuild queues')
  const seal = await env.redis.get(k.startSeal)
  t.match(seal, /^\d+:0$/, `sealed with no entrant (${seal ?? ''})`)
  t.ok(Number(seal?.split(':')[0]) > base + 3, 'past the positions handed out before the loss')
  const heir = await takeShard(env, eventId, 'owner-2')
  const placed = await placeAtStart(deps, { eventId, shard: 0 }, heir.lease.token)
  t.match(placed, { kind: 'placed', count: 0 }, 'nobody to place, nobody placed twice')
  await heir.batch([Number(late.ticket.ticket_id.split('-')[2])])
  const rows = await env.db('start_placements').where({ event_id: eventId }).orderBy('base') as Array<{ base: number, placed: number }>
  t.same(rows.map((r) => Number(r.placed)), [3, 0], 'both placements recorded, each once')
  const i4r = (await auditSale(env.db, env.redis, env.keys, eventId)).checks.find((c) => c.id === 'I4R')
  t.ok(i4r?.ok, `I4R: ${i4r?.detail ?? ''}`)
})
