/**
 * Adversarial review of bc11b25 / 653c6dd (issue 34, proof of work), kept as a regression test. Each
 * subtest states what the design promises; each failed on bc11b25.
 *
 * R1 (I7) a buyer turned away at the gate resubmits: without a proof, or with the proof already
 *    spent on that very buy (a retry after a dropped answer), they get 403 POW_REQUIRED / 409
 *    POW_USED, not the same sold_out ticket a sale without proof of work gives back. Likewise a
 *    waitlisted buyer never hears their place again without solving a new challenge.
 * R2 a buy refused for its buy token (403 BUY_TOKEN_INVALID) spends the proof: bad input changes
 *    something, and the corrected retry with the same proof is 409 POW_USED.
 * R3 a challenge minted before the operator raises the sale's difficulty stays valid: the cheap
 *    proof buys after the setting says 10,000,000.
 * R4 a ticket holder who resends their buy with a proof that is not theirs (another sale's) gets
 *    403, not the ticket ("a ticket holder gets the ticket back whatever proof (or none)").
 */
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, startTestService } from '../helpers/sale'
import type { Http } from '../helpers/sale'
import { proofHeaderOf, solveChallenge } from '../../src/sale'
import type { PowChallenge } from '../../src/shapes/api'

async function challengeFor (http: Http, env: TestEnv, user: number, eventId: number): Promise<PowChallenge> {
  const r = await http.request('GET', `/api/v1/events/${eventId}/challenge`, { token: env.token(user) })
  if (r.status !== 200) throw new Error(`challenge: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body.data as PowChallenge
}

async function solved (http: Http, env: TestEnv, user: number, eventId: number): Promise<string> {
  const c = await challengeFor(http, env, user, eventId)
  return proofHeaderOf(c, solveChallenge(c))
}

function buyWith (http: Http, env: TestEnv, eventId: number) {
  return async (user: number, proof?: string, extra: Record<string, string> = {}) => await http.request('POST', `/api/v1/events/${eventId}/buy`, {
    token: env.token(user),
    headers: { ...extra, ...(proof === undefined ? {} : { 'x-proof-of-work': proof }) }
  })
}

const brief = (r: { status: number, body: any }): string => `${r.status} ${JSON.stringify(r.body?.data ?? { code: r.body?.code })}`

t.test('R1 (I7): a buyer turned away at the gate resubmits and must get the same sold_out ticket back', async (t) => {
  const env = await testEnv(t, { GATE_OVERBOOK: '1' })
  const { http } = await startTestService(env)
  const admin = env.token(1, 'admin')
  // The same sale twice, with and without proof of work; held, so the gate (not the sold-out
  // memory) answers: the crowd's moment while the queue is full and nothing is decided yet.
  const plain = await createSale(http, env, { stock: 1 })
  const pow = await createSale(http, env, { stock: 1, fields: { pow_max_number: 2000 } })
  for (const id of [plain, pow]) t.equal((await http.request('POST', `/api/v1/admin/events/${id}/pause`, { token: admin })).status, 200)

  const buyPlain = buyWith(http, env, plain)
  t.equal((await buyPlain(10)).status, 202, 'plain: buyer 10 takes the only place')
  const firstPlain = await buyPlain(12)
  t.match(firstPlain, { status: 200, body: { data: { status: 'sold_out' } } }, 'plain: buyer 12 is turned away')
  const againPlain = await buyPlain(12)
  t.comment(`plain sale, buyer 12 resubmits: ${brief(againPlain)}`)
  t.match(againPlain, { status: 200, body: { data: { ticket_id: firstPlain.body.data.ticket_id, status: 'sold_out' } } }, 'plain: the resubmit gets the same ticket (I7)')

  const buyPow = buyWith(http, env, pow)
  t.equal((await buyPow(10, await solved(http, env, 10, pow))).status, 202, 'pow: buyer 10 takes the only place')
  const proof12 = await solved(http, env, 12, pow)
  const first = await buyPow(12, proof12)
  t.match(first, { status: 200, body: { data: { status: 'sold_out' } } }, 'pow: buyer 12 is turned away')
  const ticket = first.body.data.ticket_id as string

  // A dropped answer: the client sends the very same request again.
  const replay = await buyPow(12, proof12)
  t.comment(`pow sale, buyer 12 resends the same request: ${brief(replay)}`)
  t.match(replay, { status: 200, body: { data: { ticket_id: ticket, status: 'sold_out' } } }, 'pow: the same request again gets the same ticket (I7)')
  const bare = await buyPow(12)
  t.comment(`pow sale, buyer 12 resubmits without a proof: ${brief(bare)}`)
  t.match(bare, { status: 200, body: { data: { ticket_id: ticket, status: 'sold_out' } } }, 'pow: a resubmit without a proof gets the same ticket, as a holder\'s does (I7)')
})

t.test('R1b (I7): a waitlisted buyer resubmits and must hear their place again without new work', async (t) => {
  const env = await testEnv(t, { GATE_OVERBOOK: '1' })
  const { http } = await startTestService(env)
  const sale = await createSale(http, env, { stock: 1, fields: { pow_max_number: 2000, waitlist: true } })
  const buy = buyWith(http, env, sale)
  t.equal((await buy(10, await solved(http, env, 10, sale))).status, 202, 'buyer 10 takes the only unit')
  const proof12 = await solved(http, env, 12, sale)
  const first = await buy(12, proof12)
  t.match(first, { status: 200, body: { data: { status: 'sold_out', waitlisted: true, waitlist_place: 1 } } }, 'buyer 12 is first on the waitlist')
  const replay = await buy(12, proof12)
  t.comment(`waitlisted buyer resends the same request: ${brief(replay)}`)
  t.match(replay, { status: 200, body: { data: { ticket_id: first.body.data.ticket_id, waitlist_place: 1 } } }, 'the same request again: the same ticket and place')
  const bare = await buy(12)
  t.comment(`waitlisted buyer resubmits without a proof: ${brief(bare)}`)
  t.match(bare, { status: 200, body: { data: { ticket_id: first.body.data.ticket_id, waitlist_place: 1 } } }, 'without a proof: the same ticket and place')
})

t.test('R2: a buy refused for its buy token changes nothing: the proof is not spent', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const sale = await createSale(http, env, { stock: 5, fields: { pow_max_number: 2000, require_token: true } })
  const buy = buyWith(http, env, sale)
  const proof = await solved(http, env, 10, sale)
  const token = (await http.request('POST', `/api/v1/events/${sale}/token`, { token: env.token(10) })).body.data.token as string
  const wrong = 'A'.repeat(22)
  const refused = await buy(10, proof, { 'x-buy-token': wrong })
  t.match(refused, { status: 403, body: { code: 'BUY_TOKEN_INVALID' } }, 'a wrong buy token: 403')
  const k = env.keys.shard({ eventId: sale, shard: 0 })
  const spent = (await env.redis.keys(`${k.proofs}*`)).length
  t.comment(`spent proofs after the refused buy: ${spent}`)
  t.equal(spent, 0, 'the refusal spent no proof (bad input changes nothing)')
  const retry = await buy(10, proof, { 'x-buy-token': token })
  t.comment(`the corrected retry with the same proof: ${brief(retry)}`)
  t.equal(retry.status, 202, 'the corrected retry with the same proof is admitted')
})

t.test('R3: a challenge minted before the difficulty was raised is still accepted after', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const admin = env.token(1, 'admin')
  const startInMs = 12_000
  const created = Date.now()
  const sale = await createSale(http, env, { stock: 5, startInMs, fields: { pow_max_number: 1000 } })
  // A bot mints its challenge while the sale is cheap (challenges are issued POW_LEAD_MS early).
  const cheap = await challengeFor(http, env, 10, sale)
  const raised = await http.request('PATCH', `/api/v1/admin/events/${sale}`, { token: admin, body: { pow_max_number: 10_000_000 } })
  t.match(raised, { status: 200, body: { data: { pow_max_number: 10_000_000 } } }, 'the operator raises the difficulty before the start')
  const answer = solveChallenge(cheap)
  t.ok(answer.counter <= 1000, `the cheap challenge took ${answer.counter} tries`)
  await sleep(Math.max(0, created + startInMs + 500 - Date.now()))
  const r = await buyWith(http, env, sale)(10, proofHeaderOf(cheap, answer))
  t.comment(`buy with the cheap proof after the raise: ${brief(r)}`)
  t.equal(r.status, 403, 'a proof of a challenge easier than the sale\'s difficulty is refused')
})

t.test('R4: a ticket holder resubmitting with a proof that is not theirs still gets the ticket', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const sale = await createSale(http, env, { stock: 5, fields: { pow_max_number: 2000 } })
  const other = await createSale(http, env, { stock: 5, fields: { pow_max_number: 2000 } })
  const buy = buyWith(http, env, sale)
  const first = await buy(10, await solved(http, env, 10, sale))
  t.equal(first.status, 202, 'admitted')
  const again = await buy(10, await solved(http, env, 10, other))
  t.comment(`the holder resends with another sale's proof: ${brief(again)}`)
  t.match(again, { status: 200, body: { data: { ticket_id: first.body.data.ticket_id } } }, 'the holder gets the same ticket whatever proof (the commit\'s promise)')
})
