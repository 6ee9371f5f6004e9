/**
 * The pages and their assets as a browser gets them: pages revalidated every time, hashed assets
 * cached for a year, nothing outside dist/web/assets reachable.
 */
import t from 'tap'
import { testEnv } from '../helpers/env'
import { startTestService } from '../helpers/sale'

t.test('pages revalidate, assets are immutable, nothing else is served', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  for (const path of ['/', '/ops']) {
    const res = await fetch(http.base + path)
    t.equal(res.status, 200, `${path} answers`)
    t.match(res.headers.get('content-type') ?? '', /^text\/html/, `${path} is HTML`)
    t.equal(res.headers.get('cache-control'), 'no-cache', `${path} is revalidated`)
    const html = await res.text()
    const asset = /\/assets\/[A-Za-z0-9_.-]+\.js/.exec(html)?.[0]
    t.ok(asset !== undefined, `${path} loads a hashed script`)
    const a = await fetch(http.base + (asset as string))
    t.equal(a.status, 200, `${asset as string} answers`)
    t.match(a.headers.get('content-type') ?? '', /javascript/)
    t.match(a.headers.get('cache-control') ?? '', /max-age=31536000/, 'cached for a year')
    t.match(a.headers.get('cache-control') ?? '', /immutable/, 'and immutable')
    await a.arrayBuffer()
  }
  for (const path of ['/assets/nope.js', '/assets/../package.json', '/assets/%2e%2e/package.json', '/assets/..%2f..%2fpackage.json', '/index.html', '/assets/']) {
    const res = await fetch(http.base + path)
    const body = await res.text()
    t.ok(res.status === 404 || res.status === 403 || res.status === 400, `${path}: ${res.status}`)
    t.notMatch(body, '"name": "seckill"', `${path}: package.json not served`)
  }
})
