// Regressions (every writer is its owner, scenarios 4 and 5): the ingress's memory of a sold-out
// sale is a cache of Redis, never the last word.
//  4. After a unit came back, an ingress whose memory still said "sold out" (a reopening lost
//     while it loaded a large set of holders) answered new buyers sold_out and wrote them down as
//     turned away: a permanent refusal with a unit unsold.
//  5. With two ingresses, a buyer told sold_out from one's memory was written down 100 ms later;
//     a unit that came back meanwhile was open to that buyer at the other ingress (I7).
// A sold-out answer from memory is now given only once Redis has recorded it while the shard's
// gate is closed (lua/confirmSoldOut); otherwise the buyer goes through admission.
import t from 'tap'
import { loadConfig } from '../../src/config'
import { closeGateIfSaleEmpty } from '../../src/stock/sale-state'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import type { Http } from '../helpers/sale'
import { buy, orderOf, takeShard } from '../helpers/shard-owner'
import type { Owner } from '../helpers/shard-owner'
import type { TestEnv } from '../helpers/env'
import type { Service } from '../../src/server'
import type { Test } from '../helpers/tap-types'

async function soldOutSale (t: Test, ingresses: number): Promise<{ env: TestEnv, eventId: number, sides: Array<{ http: Http, service: Service }>, winner: number }> {
  // Ingresses only: the test is the drain.
  const env = await testEnv(t, { GATE_OVERBOOK: '10' })
  const sides: Array<{ http: Http, service: Service }> = []
  for (let i = 0; i < ingresses; i++) sides.push(await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress', EVENT_CACHE_MS: '60000' })))
  const [first] = sides as [{ http: Http, service: Service }]
  const eventId = await createSale(first.http, env, { stock: 1 })
  const winner = 9001
  const pos = await buy(t, first.http, env, eventId, winner)
  const owner = await takeShard(env, eventId, 'w1')
  t.same((await owner.batch([pos])).outcomes.map((o) => o.status), ['won'], 'the one unit is sold')
  t.match(await closeGateIfSaleEmpty(env, { id: eventId, shards: 1 }, { eventId, shard: 0 }, owner.lease.token), { look: 'closed' }, 'the owner closes its gate: the sale is declared sold out')
  for (const side of sides) {
    const cache = side.service.ingress?.cache
    await until(async () => { await cache?.get(eventId); return cache?.answersSoldOut(eventId) === true }, 10_000, 'the ingress to answer sold out from memory')
  }
  return { env, eventId, sides, winner }
}

/** The winner cancels; the shard's owner puts the unit back (new epoch, gate open, flag withdrawn). */
async function unitComesBack (t: Test, env: TestEnv, http: Http, eventId: number, winner: number, owner: Owner): Promise<void> {
  const orderId = await orderOf(env, `${eventId}-0-1`)
  t.equal((await http.request('POST', `/api/v1/orders/${orderId}/cancel`, { token: env.token(winner) })).status, 200, 'the winner cancels')
  t.match(await owner.applyReturns(), { returned: 1 }, 'the unit is back in the sale')
}

t.test('an ingress whose memory still says sold out after a unit came back does not turn buyers away for good', async (t) => {
  const { env, eventId, sides, winner } = await soldOutSale(t, 1)
  const [{ http, service }] = sides as [{ http: Http, service: Service }]
  await unitComesBack(t, env, http, eventId, winner, await takeShard(env, eventId, 'w2'))
  const cache = service.ingress?.cache
  await until(async () => cache?.answersSoldOut(eventId) === false, 10_000, 'the ingress to hear of the reopening')
  // Now its memory goes stale, as when the reopening was lost while it loaded the holders.
  const cached = await cache?.get(eventId)
  if (cached === undefined) throw new Error('event not cached')
  cached.holders = new Set([String(winner)])

  const late = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(9002) })
  t.equal(late.status, 202, `a buyer arriving after the unit came back is queued for it (${late.status} ${JSON.stringify(late.body?.data)})`)
  t.equal(await env.redis.sismember(env.keys.shard({ eventId, shard: 0 }).rejected, '9002'), 0, 'and not written down as turned away')
  const owner = await takeShard(env, eventId, 'w3')
  const again = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(9002) })
  const qpos = Number(String(again.body?.data?.ticket_id).split('-')[2])
  t.same((await owner.batch([qpos])).outcomes.map((o) => o.status), ['won'], 'and wins the unit')
})

t.test('two ingresses: a buyer told sold out by one keeps that answer at the other after a unit comes back (I7)', async (t) => {
  const { env, eventId, sides, winner } = await soldOutSale(t, 2)
  const [a, b] = sides as [{ http: Http, service: Service }, { http: Http, service: Service }]
  // The winner cancels first: the return is recorded in MySQL, not applied yet (the gate is still
  // closed), so the unit comes back right after A's answer, inside the time A used to take to
  // write that answer down.
  const owner = await takeShard(env, eventId, 'w2')
  const orderId = await orderOf(env, `${eventId}-0-1`)
  t.equal((await a.http.request('POST', `/api/v1/orders/${orderId}/cancel`, { token: env.token(winner) })).status, 200, 'the winner cancels')
  const told = await a.http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(9003) })
  t.equal(told.body?.data?.status, 'sold_out', 'ingress A tells the buyer sold out from memory')
  t.match(await owner.applyReturns(), { returned: 1 }, 'the unit is back in the sale')
  await until(async () => b.service.ingress?.cache.answersSoldOut(eventId) === false, 10_000, 'ingress B to hear of the reopening')
  const other = await b.http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(9003) })
  t.equal(other.body?.data?.status, 'sold_out', `ingress B gives the same answer (${other.status} ${JSON.stringify(other.body?.data)})`)
  t.equal(other.body?.data?.ticket_id, told.body?.data?.ticket_id, 'the same ticket')
  const newcomer = await b.http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(9004) })
  t.equal(newcomer.status, 202, 'a buyer never turned away is queued for the unit that came back')
})
