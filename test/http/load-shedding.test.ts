// A saturated ingress sheds buys and polls with 503 OVERLOADED and Retry-After, keeps answering
// health and the catalog, counts what it shed, and serves buys again once the pressure is gone.
// The pressure is real: this process's event loop is kept busy (the service runs in it).
import t from 'tap'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'

/** Keeps the event loop busy in slices of `ms` until stopped. */
function hog (ms: number): () => void {
  let on = true
  const slice = (): void => {
    if (!on) return
    const end = Date.now() + ms
    while (Date.now() < end) { /* busy */ }
    setTimeout(slice, 1)
  }
  setTimeout(slice, 1)
  return () => { on = false }
}

t.test('under event-loop pressure buys and polls get 503 OVERLOADED with Retry-After; health and reads are served', async (t) => {
  const env = await testEnv(t)
  const { http, service } = await startTestService(env, loadConfig({ ...env.env, OVERLOAD_EVENT_LOOP_DELAY_MS: '40' }))
  const eventId = await createSale(http, env, { stock: 5 })
  // Calm first (a busy test machine may lag on its own: wait for the state, a buy served).
  let first = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(701) })
  await until(async () => {
    if (first.status !== 202 && first.status !== 200) first = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(701) })
    return first.status === 202 || first.status === 200
  }, 30_000, 'a buy to be served while calm')
  const ticket = String(first.body.data.ticket_id)

  // A new buyer each try, so the one shed is a buyer the sale has never seen.
  let buyer = 7000
  const stop = hog(120)
  try {
    let shed = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(buyer) })
    while (shed.status !== 503) {
      shed = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(++buyer) })
      if (buyer > 7400) break
    }
    t.equal(shed.status, 503, `a buy is shed (buyer ${buyer})`)
    t.equal(shed.body.code, 'OVERLOADED')
    t.equal(shed.headers.get('retry-after'), '1', 'told when to come back')
    const poll = await http.request('GET', `/api/v1/tickets/${ticket}`, { token: env.token(701) })
    t.same([poll.status, poll.body.code], [503, 'OVERLOADED'], 'a poll is shed too')
    t.equal((await http.request('GET', '/healthz')).status, 200, 'health still answers')
    t.equal((await http.request('GET', '/readyz')).status, 200, 'and readiness: a busy ingress is not a dead one')
    t.equal((await http.request('GET', `/api/v1/events/${eventId}`)).status, 200, 'the sale page\'s read is served')
  } finally {
    stop()
  }
  const metrics = await service.runtime.metrics.registry.getSingleMetricAsString('seckill_requests_shed_total')
  t.match(metrics, /seckill_requests_shed_total\{route="\/api\/v1\/events\/:id\/buy",reason="eventLoopDelay"[^}]*\} [1-9]/, 'shed buys are counted')

  await until(async () => (await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(703) })).status === 202, 20_000, 'buys to be served again')
  t.equal(await env.redis.hexists(env.keys.shard({ eventId, shard: 0 }).holders, String(buyer)), 0, 'a shed buy changed nothing')
})
