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

  // Served again: queued (202), or answered sold out (200) when the buyers let in before the
  // shedding began took the five units.
  await until(async () => [200, 202].includes((await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(703) })).status), 20_000, 'buys to be served again')
  t.equal(await env.redis.hexists(env.keys.shard({ eventId, shard: 0 }).holders, String(buyer)), 0, 'a shed buy changed nothing')
})

t.test('past OVERLOAD_MAX_IN_FLIGHT buys and polls in flight, more are shed at once; a long-poll\'s wait is not counted', async (t) => {
  // The plugin on a bare Fastify app whose shed route waits until the test lets it answer: the
  // requests in flight are exactly the ones the test holds.
  const Fastify = (await import('fastify')).default
  const { registerLoadShedding, SHED } = await import('../../src/http/load-shedding')
  const { createErrorHandler } = await import('../../src/http/error-handler')
  const app = Fastify()
  t.teardown(async () => await app.close())
  const shed: string[] = []
  await registerLoadShedding(app, { maxInFlight: 2, eventLoopDelayMs: 0, heapMiB: 0, onShed: (route, reason) => shed.push(`${route} ${reason}`) })
  app.setErrorHandler(createErrorHandler())
  const held: Array<() => void> = []
  app.get('/held', { config: SHED }, async () => { await new Promise<void>((resolve) => held.push(resolve)); return { ok: true } })
  app.get('/free', async () => ({ ok: true }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`

  const first = [fetch(`${base}/held`), fetch(`${base}/held`)]
  await until(async () => held.length === 2, 5000, 'two requests in flight')
  const third = await fetch(`${base}/held`)
  t.equal(third.status, 503, 'the third is shed')
  t.equal(third.headers.get('retry-after'), '1')
  t.equal(((await third.json()) as { code: string }).code, 'OVERLOADED')
  t.same(shed, ['/held inFlight'], 'counted, with its reason')
  t.equal((await fetch(`${base}/free`)).status, 200, 'a route that is not shed is served')
  const longPoll = fetch(`${base}/held?wait=1000`)
  await until(async () => held.length === 3, 5000, 'a long-poll waits beside them, not counted')

  for (const release of held.splice(0)) release()
  t.same((await Promise.all([...first, longPoll])).map((r) => r.status), [200, 200, 200], 'the held ones answer')
  const after = fetch(`${base}/held`)
  await until(async () => held.length === 1, 5000, 'a request in flight again')
  held.splice(0).forEach((release) => release())
  t.equal((await after).status, 200, 'and once the line is short, buys are served again')
})

t.test('answers of a sale remembered as sold out are not held to the in-flight bound', async (t) => {
  const env = await testEnv(t)
  // A small bound, so a burst of buys would be shed if they counted.
  const { http, service } = await startTestService(env, loadConfig({ ...env.env, OVERLOAD_MAX_IN_FLIGHT: '5' }))
  const eventId = await createSale(http, env, { stock: 1 })
  const first = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(801) })
  t.equal(first.status, 202)
  const cache = service.ingress?.cache
  await until(async () => { await cache?.get(eventId); return cache?.answersSoldOut(eventId) === true }, 30_000, 'the sale to sell out and the ingress to remember it')
  const answers = await Promise.all(Array.from({ length: 60 }, async (_, i) => await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(900 + i) })))
  t.same([...new Set(answers.map((r) => `${r.status} ${String(r.body.data?.status)}`))], ['200 sold_out'], 'sixty buys at once: every one answered sold_out, none shed')
})
