// What a live shard costs while nothing happens (issue: many drops at once).
// - One connection per worker wakes every idle drain, however many shards it owns.
// - A sold-out shard whose drain is idle gets the quiet lease (LEASE_QUIET_MS, renewed a third as
//   often); a unit that comes back wakes the drain at once, the lease returns to LEASE_MS, and the
//   unit is sold again.
import t from 'tap'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import type { Http } from '../helpers/sale'
import type { TestEnv } from '../helpers/env'

async function wins (http: Http, env: TestEnv, eventId: number, user: number): Promise<string | undefined> {
  const bought = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })
  let ticket = bought.body.data
  while (ticket?.status === 'queued') ticket = (await http.request('GET', `/api/v1/tickets/${String(ticket.ticket_id)}?wait=5000`, { token: env.token(user) })).body.data
  return ticket?.status === 'won' ? String(ticket.order_id) : undefined
}

/** The service's connections to Redis, by client name (CLIENT LIST), for this test's prefix. */
async function namedConnections (env: TestEnv): Promise<string[]> {
  const list = String(await env.redis.client('LIST'))
  return list.split('\n').flatMap((line) => {
    const name = / name=(\S+) /.exec(line)?.[1]
    return name !== undefined && name.startsWith(`${env.config.redisPrefix}:`) ? [name] : []
  })
}

t.test('one wake connection per worker, whatever the number of live shards', async (t) => {
  const env = await testEnv(t)
  const { http, service } = await startTestService(env)
  const events = await Promise.all(Array.from({ length: 8 }, async () => await createSale(http, env, { stock: 2, shards: 2 })))
  await until(async () => (service.dispatcher?.idleShards().length ?? 0) === 16, 20_000, 'all 16 shards to be owned and idle')
  const names = await namedConnections(env)
  t.same(names.filter((n) => n.includes('drain')), [env.keys.drainWakeConnection], 'one drain connection, the wake subscriber')
  // Every sale still sells: each admission to an idle line wakes its drain.
  const won = await Promise.all(events.map(async (eventId, i) => await wins(http, env, eventId, 100 + i)))
  t.ok(won.every((o) => o !== undefined), 'a buyer of each sale wins')
})

t.test('a sold-out idle shard gets the quiet lease; a returned unit brings LEASE_MS back and sells', async (t) => {
  const env = await testEnv(t, { LEASE_QUIET_MS: '20000', EVENT_CACHE_MS: '0' })
  const { http, service } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 1, shards: 1 })
  const lease = env.keys.shard({ eventId, shard: 0 }).lease
  const order = await wins(http, env, eventId, 1)
  t.ok(order !== undefined, 'the first buyer wins the one unit')
  t.equal((await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(2) })).body.data?.status, 'sold_out')

  // Quiet after two LEASE_MS (2 s in tests) idle with no stock left.
  await until(async () => await env.redis.pttl(lease) > 2000, 20_000, 'the lease to be renewed with LEASE_QUIET_MS')
  t.ok(service.dispatcher?.idleShards().includes(`{e${eventId}.0}`), 'the drain is idle')

  t.equal((await http.request('POST', `/api/v1/orders/${String(order)}/cancel`, { token: env.token(1) })).body.data?.status, 'cancelled')
  await until(async () => {
    const view = (await http.request('GET', `/api/v1/events/${eventId}`)).body.data
    return view?.remaining === 1 && view?.status === 'active'
  }, 20_000, 'the unit to be on sale again')
  await until(async () => { const ms = await env.redis.pttl(lease); return ms > 0 && ms <= 2000 }, 20_000, 'the lease to be renewed with LEASE_MS again')
  t.ok(await wins(http, env, eventId, 3), 'a new buyer wins the unit that came back')
})
