// Issue 30, item 9: `GET /events/:id`, unauthenticated and unlimited, reached MySQL on every
// request, though the README said event reads were cached. It is now answered from the ingress's
// event cache: a crowd reloading the sale page costs MySQL nothing; an id the ingress does not
// hold reaches MySQL once, and such first reads are counted per address.
import t from 'tap'
import { testEnv } from '../helpers/env'
import { createSale, pool, startTestService, until } from '../helpers/sale'

t.test('the sale page read comes from the event cache: MySQL queries counted', async (t) => {
  const env = await testEnv(t, { PROCESS_ROLE: 'ingress', EVENT_CACHE_MS: '60000', RATE_LIMIT_READ: '5' })
  const { service, http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 7 })
  const queries: string[] = []
  service.runtime.db.on('query', (q: { sql: string }) => { if (/seckill_events/.test(q.sql)) queries.push(q.sql) })

  t.equal((await http.request('GET', `/api/v1/events/${eventId}`)).status, 200, 'a first read loads the row')
  queries.length = 0
  const reads = await pool(Array.from({ length: 300 }, (_, i) => i), 20, async () => await http.request('GET', `/api/v1/events/${eventId}`))
  t.ok(reads.every((r) => r.status === 200), 'all 300 answered 200, none limited')
  t.equal(reads[299]?.body.data.remaining, 7, 'remaining is live from Redis')
  t.equal(reads[299]?.body.data.status, 'active')
  t.equal(queries.length, 0, `300 reads of one sale: ${queries.length} MySQL queries`)

  queries.length = 0
  t.equal((await http.request('GET', '/api/v1/events/987654321')).status, 404, 'an unknown id: 404')
  const unknown = await pool(Array.from({ length: 50 }, (_, i) => i), 10, async () => await http.request('GET', '/api/v1/events/987654321'))
  t.ok(unknown.every((r) => r.status === 404 && r.body.code === 'EVENT_NOT_FOUND'), '50 reads of an unknown id: 404')
  t.ok(queries.length <= 1, `an unknown id is remembered too: ${queries.length} MySQL queries`)

  // An admin's change reaches the cached row at once (the catalog channel), not after the ttl.
  const upcoming = await createSale(http, env, { stock: 3, startInMs: 3_600_000 })
  t.equal((await http.request('GET', `/api/v1/events/${upcoming}`)).body.data.title, 'Flash drop')
  const patched = await http.request('PATCH', `/api/v1/admin/events/${upcoming}`, { token: env.token(1, 'admin'), body: { title: 'Renamed drop' } })
  t.equal(patched.status, 200)
  await until(async () => (await http.request('GET', `/api/v1/events/${upcoming}`)).body.data.title === 'Renamed drop', 5000, 'the renamed event')

  // Ids this ingress does not hold reach MySQL: a scan of them is limited per address.
  const scan = []
  for (let id = 1000; id < 1010; id++) scan.push((await http.request('GET', `/api/v1/events/${id}`)).status)
  t.ok(scan.includes(429), `a scan of unknown ids is limited: ${scan.join(' ')}`)
  t.equal((await http.request('GET', `/api/v1/events/${eventId}`)).status, 200, 'the sale page\'s read is not, even then')
})
