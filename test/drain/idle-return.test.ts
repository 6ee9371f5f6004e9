// A unit that comes back while its shard's drain is idle (waiting for new jobs) is put back on sale
// at once: the returns signal rings the shard's doorbell and wakes the drain. The idle wait is set to a minute
// here, so a drain that only looked at returns between waits would leave the unit out of the sale
// for the whole minute and the test would fail at its 20 s bound.
import t from 'tap'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import type { Service } from '../../src/server'
import { shardTag } from '../../src/redis/keys'
import { isDeclaredSoldOut } from '../../src/stock/sale-state'
import { createSale, returnsApplied, startTestService, until } from '../helpers/sale'
import type { Http } from '../helpers/sale'

/** True while every shard's drain of the event waits for work. */
function drainsIdle (service: Service, eventId: number, shards: number): boolean {
  const idle = service.dispatcher?.idleShards() ?? []
  return Array.from({ length: shards }, (_, shard) => shardTag({ eventId, shard })).every((tag) => idle.includes(tag))
}

async function wins (http: Http, env: TestEnv, eventId: number, user: number): Promise<string | undefined> {
  const bought = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })
  let ticket = bought.body.data
  while (ticket?.status === 'queued') ticket = (await http.request('GET', `/api/v1/tickets/${String(ticket.ticket_id)}?wait=5000`, { token: env.token(user) })).body.data
  return ticket?.status === 'won' ? String(ticket.order_id) : undefined
}

for (const shards of [1, 2]) {
  t.test(`a unit cancelled while the drain of its ${shards === 1 ? 'shard' : 'event\'s shards'} is idle is back on sale at once`, async (t) => {
    const env = await testEnv(t, { DRAIN_IDLE_WAIT_MS: '60000', EVENT_CACHE_MS: '0' })
    const { http, service } = await startTestService(env)
    // One unit per shard, each won.
    const eventId = await createSale(http, env, { stock: shards, shards })
    const orders = await Promise.all(Array.from({ length: shards }, async (_, i) => await wins(http, env, eventId, i + 1)))
    t.ok(orders.every((o) => o !== undefined), `the first ${shards} buyers win every unit`)
    const order = orders[0]
    // The winners hear of their orders before the drain declares the sale sold out (it does when
    // the batch lands); until then a gate may still admit a buyer on a sibling's last hint of free
    // units (who then loses in line). Wait for the declaration, then the gates turn buyers away.
    await until(async () => await isDeclaredSoldOut({ redis: env.redis, keys: env.keys }, eventId), 20_000, 'the sale to be declared sold out')
    t.equal((await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(100) })).body.data?.status, 'sold_out', 'the next buyer is told sold out')

    await until(async () => drainsIdle(service, eventId, shards), 20_000, 'the drains to wait for work')
    const cancelled = await http.request('POST', `/api/v1/orders/${String(order)}/cancel`, { token: env.token(1) })
    t.equal(cancelled.body.data?.status, 'cancelled')
    await until(async () => await returnsApplied(env, eventId), 20_000, 'the returned unit to be applied (the idle wait is 60 s)')
    // With two shards the unit is back when its shard applied it; the sold-out announcement goes
    // when the sibling reopened its gate too (woken the same way).
    await until(async () => {
      const view = (await http.request('GET', `/api/v1/events/${eventId}`)).body.data
      return view?.remaining === 1 && view?.status === 'active'
    }, 20_000, 'the event to be on sale again with the unit')
    // The page reads Redis; the ingress's own sold-out answer goes when the reopening's message
    // reaches it (over pub/sub, a moment later under load).
    await until(async () => service.ingress?.cache.answersSoldOut(eventId) === false, 20_000, 'the ingress to stop answering sold out from memory')
    t.ok(await wins(http, env, eventId, 3), 'a new buyer wins the unit that came back')
  })
}
