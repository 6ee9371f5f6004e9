// Issue item 7: anonymous reads were unlimited: 300 random product searches at once from one
// address pushed others' event reads from 32 ms to 1.2 s at p99. Searches and lists are now limited
// per address (generously); the sale page's reads are not, since thousands of buyers may share one
// address. Against a spawned service, two loopback addresses as two clients.
import t from 'tap'
import { request as rawRequest } from 'node:http'
import { testEnv } from '../helpers/env'
import { createSale, httpClient } from '../helpers/sale'
import { freePort, spawnService, whenReady } from '../helpers/processes'

async function get (port: number, from: string, path: string): Promise<{ status: number, retryAfter?: string }> {
  return await new Promise((resolve, reject) => {
    const req = rawRequest({ host: '127.0.0.1', port, path, localAddress: from, agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] }))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('product searches and lists are limited per address; the sale page is not', async (t) => {
  const env = await testEnv(t)
  const port = await freePort()
  const service = spawnService(env, { PORT: String(port), HOST: '0.0.0.0', RATE_LIMIT_READ: '30', RATE_LIMIT_WINDOW_MS: '60000', CATALOG_CACHE_MS: '60000' })
  t.teardown(async () => { await service.stop() })
  const http = httpClient(`http://127.0.0.1:${port}`)
  await whenReady(service, http.base)
  const eventId = await createSale(http, env, { stock: 5 })

  const searches = []
  for (let i = 0; i < 40; i++) searches.push(await get(port, '127.0.0.2', `/api/v1/products?q=probe${i}`))
  t.equal(searches.filter((r) => r.status === 200).length, 30, 'the first 30 searches from one address are answered')
  const refused = searches.filter((r) => r.status === 429)
  t.equal(refused.length, 10, 'the rest get 429')
  t.ok(refused.every((r) => r.retryAfter !== undefined && Number(r.retryAfter) > 0), 'with Retry-After')
  // Lists and product pages: each answer nobody asked for lately counts (its own quota per route).
  for (const path of ['/api/v1/events?page=', '/api/v1/products/']) {
    const answers = []
    for (let i = 1; i <= 31; i++) answers.push((await get(port, '127.0.0.2', `${path}${i}`)).status)
    t.same([answers.slice(0, 30).every((s) => s !== 429), answers[30]], [true, 429], `${path}… is limited the same way`)
  }
  // An answer in the catalog cache costs nothing: a crowd behind one address loading the same front
  // page is not turned away (the cache keeps answers for CATALOG_CACHE_MS, a minute here).
  const front = await get(port, '127.0.0.4', '/api/v1/events?status=active')
  t.equal(front.status, 200)
  const again = []
  for (let i = 0; i < 40; i++) again.push((await get(port, '127.0.0.4', '/api/v1/events?status=active')).status)
  t.ok(again.every((s) => s === 200), 'cached answers are not counted (40 more after one counted)')

  t.equal((await get(port, '127.0.0.3', '/api/v1/products?q=shoe')).status, 200, 'another address searches as before')
  const page = []
  for (let i = 0; i < 60; i++) page.push((await get(port, '127.0.0.2', `/api/v1/events/${eventId}`)).status)
  t.ok(page.every((s) => s === 200), 'the sale page\'s event reads are never limited')
  t.equal((await get(port, '127.0.0.2', '/api/v1/time')).status, 200, 'nor the clock')
})
