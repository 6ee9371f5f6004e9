/**
 * Issue 34, proof of work against bots: the per-sale setting on the admin API, the challenge, and
 * the buy that needs a solved one -- admitted once; a ticket holder's resubmit needs no new work;
 * missing, malformed, wrong, forged, expired, another buyer's, another sale's and replayed proofs
 * are refused with their 4xx and change nothing; a replay racing its first use, on one ingress or
 * two, is spent once.
 */
import t from 'tap'
import { createHash } from 'node:crypto'
import { TEST_SECRET, testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, startTestService } from '../helpers/sale'
import type { Http } from '../helpers/sale'
import { POW_DEFAULT_MAX_NUMBER, createChallenge, powKeyFrom, proofHeaderOf as proofHeader, solveChallenge as solve } from '../../src/sale'
import type { PowChallenge } from '../../src/shapes/api'

async function challengeFor (http: Http, env: TestEnv, user: number, eventId: number): Promise<PowChallenge> {
  const r = await http.request('GET', `/api/v1/events/${eventId}/challenge`, { token: env.token(user) })
  if (r.status !== 200) throw new Error(`challenge: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body.data as PowChallenge
}

async function solved (http: Http, env: TestEnv, user: number, eventId: number): Promise<string> {
  const c = await challengeFor(http, env, user, eventId)
  return proofHeader(c, solve(c))
}

function buyWith (http: Http, env: TestEnv, eventId: number) {
  return async (user: number, proof?: string) => await http.request('POST', `/api/v1/events/${eventId}/buy`, {
    token: env.token(user),
    headers: proof === undefined ? {} : { 'x-proof-of-work': proof }
  })
}

/** What a buy can change in a shard's Redis state, and the spent proofs. */
async function shardState (env: TestEnv, eventId: number): Promise<Record<string, unknown>> {
  const k = env.keys.shard({ eventId, shard: 0 })
  return {
    qseq: await env.redis.get(k.qseq),
    pending: await env.redis.get(k.pending),
    holders: await env.redis.hgetall(k.holders),
    rejected: (await env.redis.smembers(k.rejected)).sort(),
    spent: (await env.redis.keys(`${k.proofs}*`)).length
  }
}

t.test('the admin sets proof of work per sale: off by default, true takes the default difficulty, bad values are 400 and store nothing', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const admin = env.token(1, 'admin')
  const view = async (id: number): Promise<{ proof_of_work: boolean, pow_max_number: number | null }> => (await http.request('GET', `/api/v1/events/${id}`)).body.data

  const plain = await view(await createSale(http, env, { stock: 5 }))
  t.equal(plain.proof_of_work, false, 'a sale without the setting needs no proof')
  t.equal(plain.pow_max_number, null, 'and has no difficulty')
  const on = await createSale(http, env, { stock: 5, startInMs: 600_000, fields: { proof_of_work: true } })
  t.match(await view(on), { proof_of_work: true, pow_max_number: POW_DEFAULT_MAX_NUMBER }, 'proof_of_work: true takes the default difficulty')
  t.match(await view(await createSale(http, env, { stock: 5, fields: { pow_max_number: 5000 } })), { proof_of_work: true, pow_max_number: 5000 }, 'a difficulty turns it on')

  const product = await http.request('POST', '/api/v1/admin/products', { token: admin, body: { title: 'Sneaker', price_cents: 100 } })
  const body = { product_id: product.body.data.id, title: 'Drop', price_cents: 100, stock: 5, start_at: new Date(Date.now() + 600_000).toISOString(), end_at: new Date(Date.now() + 3_600_000).toISOString() }
  const count = async (): Promise<number> => Number((await env.db('seckill_events').count({ n: '*' }).first() as { n: number | string }).n)
  const before = await count()
  for (const [fields, what, message] of [
    [{ pow_max_number: 999 }, 'below the minimum', /pow_max_number must be >= 1000/],
    [{ pow_max_number: 10_000_001 }, 'above the maximum', /pow_max_number must be <= 10000000/],
    [{ pow_max_number: 1500.5 }, 'not an integer', /pow_max_number must be integer/],
    [{ pow_max_number: null }, 'null (off is proof_of_work: false)', /pow_max_number must be integer/],
    [{ proof_of_work: 'yes' }, 'proof_of_work not a boolean', /proof_of_work must be boolean/],
    [{ proof_of_work: false, pow_max_number: 5000 }, 'a difficulty with proof_of_work: false', /cannot be set with proof_of_work: false/],
    [{ proof_of_work: true, entry: 'random_at_start' }, 'with a randomized start (not offered yet)', /does not combine with entry random_at_start/]
  ] as const) {
    const r = await http.request('POST', '/api/v1/admin/events', { token: admin, body: { ...body, ...fields } })
    t.equal(r.status, 400, `400 for ${what}`)
    t.equal(r.body.code, 'BAD_REQUEST', what)
    t.match(r.body.message, message, `the message says what is wrong (${what})`)
  }
  t.equal(await count(), before, 'no refused sale was stored')

  const patch = async (id: number, changes: Record<string, unknown>): Promise<{ status: number, body: any }> => await http.request('PATCH', `/api/v1/admin/events/${id}`, { token: admin, body: changes })
  t.match((await patch(on, { pow_max_number: 20_000 })).body.data, { proof_of_work: true, pow_max_number: 20_000 }, 'an upcoming sale\'s difficulty changes')
  const refused = await patch(on, { pow_max_number: 5 })
  t.equal(refused.status, 400, 'a bad difficulty is refused on an edit too')
  t.match(await view(on), { pow_max_number: 20_000 }, 'and changes nothing')
  t.match((await patch(on, { proof_of_work: false })).body.data, { proof_of_work: false, pow_max_number: null }, 'proof_of_work: false turns it off')
})

t.test('GET /events/:id/challenge: for this buyer and sale, from POW_LEAD_MS before the start; 409 for a sale without proof of work', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const plain = await createSale(http, env, { stock: 5 })
  const later = await createSale(http, env, { stock: 5, startInMs: 3_600_000, durationMs: 3_600_000, fields: { pow_max_number: 1000 } })
  const soon = await createSale(http, env, { stock: 5, startInMs: 60_000, fields: { pow_max_number: 1000 } })
  const live = await createSale(http, env, { stock: 5, fields: { pow_max_number: 1000 } })
  const ask = async (eventId: number): Promise<{ status: number, body: any }> =>
    await http.request('GET', `/api/v1/events/${eventId}/challenge`, { token: env.token(7) })

  t.match(await ask(plain), { status: 409, body: { code: 'POW_NOT_AVAILABLE', message: /needs no proof of work/ } }, 'a sale without proof of work has none')
  t.match(await ask(later), { status: 409, body: { code: 'POW_NOT_AVAILABLE', message: /from 600 s before the start/ } }, 'not an hour before the start')
  t.match(await ask(987654), { status: 404, body: { code: 'EVENT_NOT_FOUND' } }, 'an unknown sale')
  t.match(await http.request('GET', `/api/v1/events/${live}/challenge`), { status: 401, body: { code: 'UNAUTHORIZED' } }, 'a buyer only')

  const issued = Date.now()
  const c = (await ask(live)).body.data as PowChallenge
  t.match(c.parameters, { algorithm: 'SHA-256', cost: 1, keyLength: 32, data: { e: live, u: '7' } }, 'bound to the sale and the buyer')
  t.match(c.parameters.nonce, /^[0-9a-f]{32}$/, 'a 16-byte nonce')
  t.match(c.signature, /^[0-9a-f]{64}$/, 'signed')
  t.ok(Math.abs(c.parameters.expiresAt * 1000 - (issued + 120_000)) < 3000, 'during the sale: valid POW_TTL_MS from now')
  t.not((await ask(live)).body.data.parameters.nonce, c.parameters.nonce, 'a new challenge each time')
  const early = (await ask(soon)).body.data as PowChallenge
  const start = Date.parse((await http.request('GET', `/api/v1/events/${soon}`)).body.data.start_at)
  t.ok(Math.abs(early.parameters.expiresAt * 1000 - (start + 120_000)) < 1500, 'before the start: valid until POW_TTL_MS after the start')
})

t.test('a buy of a proof-of-work sale: refused without a good proof (nothing changes), admitted once with one; a holder resubmits freely', async (t) => {
  const env = await testEnv(t, { GATE_OVERBOOK: '1' })
  const { http } = await startTestService(env)
  const sale = await createSale(http, env, { stock: 1, fields: { pow_max_number: 2000 } })
  const other = await createSale(http, env, { stock: 1, fields: { pow_max_number: 2000 } })
  // Held: nobody is decided, so the gate (not the sold-out memory) answers the buyers after the first.
  t.equal((await http.request('POST', `/api/v1/admin/events/${sale}/pause`, { token: env.token(1, 'admin') })).status, 200, 'the sale is held')
  const buy = buyWith(http, env, sale)
  const before = await shardState(env, sale)

  t.match(await buy(10), { status: 403, body: { code: 'POW_REQUIRED' } }, 'no proof: 403 POW_REQUIRED')
  t.match(await buy(10, 'not base64 of JSON!'), { status: 400, body: { code: 'BAD_REQUEST', message: /X-Proof-Of-Work is malformed/ } }, 'garbage: 400')
  t.match(await buy(10, Buffer.from('{"challenge":{},"solution":{}}').toString('base64')), { status: 400, body: { message: /not one this service issues/ } }, 'not a challenge of ours: 400')
  t.match(await buy(10, await solved(http, env, 11, sale)), { status: 403, body: { code: 'POW_INVALID', message: /issued to another buyer/ } }, 'another buyer\'s proof: 403')
  t.match(await buy(10, await solved(http, env, 10, other)), { status: 403, body: { code: 'POW_INVALID', message: /for another sale/ } }, 'another sale\'s proof: 403')

  const mine = await challengeFor(http, env, 10, sale)
  const answer = solve(mine)
  const digest = (n: number): string => {
    const c = Buffer.alloc(4)
    c.writeUInt32BE(n)
    return createHash('sha256').update(Buffer.from(mine.parameters.salt, 'hex')).update(Buffer.from(mine.parameters.nonce, 'hex')).update(c).digest('hex')
  }
  const wrong = answer.counter + 1
  t.match(await buy(10, proofHeader(mine, { counter: wrong, derivedKey: answer.derivedKey })), { status: 403, body: { code: 'POW_INVALID', message: /does not solve/ } }, 'the right digest with the wrong counter')
  t.match(await buy(10, proofHeader(mine, { counter: wrong, derivedKey: digest(wrong) })), { status: 403, body: { code: 'POW_INVALID', message: /does not solve/ } }, 'a counter that does not solve it')
  const easier = { ...mine, parameters: { ...mine.parameters, keyPrefix: digest(0).slice(0, 32) } }
  t.match(await buy(10, proofHeader(easier, { counter: 0, derivedKey: digest(0) })), { status: 403, body: { code: 'POW_INVALID', message: /not issued by this service/ } }, 'a challenge changed to an easier one')
  const forged = createChallenge('a key the service does not have', sale, '10', 2000, Date.now() + 60_000)
  t.match(await buy(10, proofHeader(forged, solve(forged))), { status: 403, body: { code: 'POW_INVALID', message: /not issued by this service/ } }, 'a challenge signed with another key')
  // Signed with the service's key (derived from JWT_SECRET), but past its expiry on Redis's clock.
  const expired = createChallenge(powKeyFrom(TEST_SECRET), sale, '10', 2000, Date.now() - 2000)
  t.match(await buy(10, proofHeader(expired, solve(expired))), { status: 403, body: { code: 'POW_EXPIRED' } }, 'an expired proof: 403 POW_EXPIRED')
  t.same(await shardState(env, sale), before, 'none of these changed anything')

  const first = await buy(10, proofHeader(mine, answer))
  t.equal(first.status, 202, 'a solved challenge: admitted')
  const ticket = first.body.data.ticket_id as string
  t.match(await shardState(env, sale), { qseq: '1', pending: '1', holders: { 10: '1' }, spent: 1 }, 'one ticket, one proof spent')

  // The holder's resubmit: with the same proof, with none, with a new one; the new one stays unspent.
  const fresh = await solved(http, env, 10, sale)
  for (const [proof, what] of [[proofHeader(mine, answer), 'the same proof'], [undefined, 'no proof'], [fresh, 'a new proof']] as const) {
    const again = await buy(10, proof)
    t.equal(again.status, 200, `a resubmit with ${what}: 200`)
    t.equal(again.body.data.ticket_id, ticket, `the same ticket (${what})`)
  }
  t.match(await shardState(env, sale), { qseq: '1', spent: 1 }, 'no new ticket, no proof spent')

  // The gate is full: buyer 12's proof buys a sold_out answer, spent once; the same proof again, at
  // once or later, or no proof, hears the same sold_out ticket (I7: a resubmit's answer is free).
  const proof12 = await solved(http, env, 12, sale)
  const racing = await Promise.all(Array.from({ length: 8 }, async () => await buy(12, proof12)))
  t.equal(racing.filter((r) => r.status === 200 && r.body.data.status === 'sold_out').length, 8, 'eight buys with one proof at once: eight sold_out answers')
  t.equal(new Set(racing.map((r) => r.body.data?.ticket_id)).size, 1, 'all with the same ticket')
  const after = await shardState(env, sale)
  t.match(after, { qseq: '1', rejected: ['12'], spent: 2 }, 'the buyer turned away once, the proof spent once')
  t.match(await buy(12, proof12), { status: 200, body: { data: { status: 'sold_out', ticket_id: racing[0].body.data.ticket_id } } }, 'a replay later: the same sold_out ticket')
  t.match(await buy(12), { status: 200, body: { data: { status: 'sold_out', ticket_id: racing[0].body.data.ticket_id } } }, 'and without a proof')
  t.same(await shardState(env, sale), after, 'and it changed nothing')
  const again = await buy(12, await solved(http, env, 12, sale))
  t.match(again, { status: 200, body: { data: { status: 'sold_out' } } }, 'a new proof: still sold out')
})

t.test('one proof sent many times at once, through two ingresses: one ticket', async (t) => {
  const env = await testEnv(t)
  const a = await startTestService(env)
  const b = await startTestService(env)
  const sale = await createSale(a.http, env, { stock: 5, fields: { pow_max_number: 2000 } })
  const proof = await solved(a.http, env, 20, sale)
  const answers = await Promise.all(Array.from({ length: 10 }, async (_, i) => await buyWith(i % 2 === 0 ? a.http : b.http, env, sale)(20, proof)))
  t.equal(answers.filter((r) => r.status === 202).length, 1, 'one buy admitted')
  t.equal(answers.filter((r) => r.status === 200).length, 9, 'the others: the holder\'s resubmit, 200')
  t.equal(new Set(answers.map((r) => r.body.data.ticket_id)).size, 1, 'all with the same ticket')
  t.match(await shardState(env, sale), { qseq: '1', spent: 1 }, 'one position handed out, one proof spent')

  // Two tabs of one buyer, each with its own proof, at once: one ticket, the other proof unspent.
  const tabs = await Promise.all([await solved(a.http, env, 21, sale), await solved(b.http, env, 21, sale)].map(async (p, i) => await buyWith(i === 0 ? a.http : b.http, env, sale)(21, p)))
  t.same(tabs.map((r) => r.status).sort(), [200, 202], 'two tabs: one admitted, one given the same ticket')
  t.equal(tabs[0]?.body.data.ticket_id, tabs[1]?.body.data.ticket_id, 'the same ticket')
  t.match(await shardState(env, sale), { qseq: '2', spent: 2 }, 'one more position, one more proof spent')
})

t.test('a sale without proof of work reads no proof: a header sent anyway is ignored and spends nothing', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const sale = await createSale(http, env, { stock: 5 })
  const r = await buyWith(http, env, sale)(30, 'anything at all')
  t.equal(r.status, 202, 'admitted as any buy')
  t.match(await shardState(env, sale), { qseq: '1', spent: 0 }, 'no proof spent')
})
