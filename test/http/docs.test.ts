import t from 'tap'
import { readFileSync } from 'node:fs'
import { ERROR_CODES } from '../../src/shared/errors'
import { repoPath } from '../../src/util/paths'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { startTestService } from '../helpers/sale'

t.test('the OpenAPI document is served, and the README lists every route and error code', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  t.equal((await http.request('GET', '/docs')).status, 200, 'the UI')
  const doc = await http.request('GET', '/docs/json')
  t.match(doc.body, { openapi: /^3\./, info: { title: String } })
  const paths = Object.keys(doc.body.paths as Record<string, unknown>)
  t.ok(paths.includes('/api/v1/events/{id}/buy'), 'the buy route is documented')
  t.ok((doc.body.paths['/api/v1/events/{id}/buy'].post.responses as Record<string, unknown>)['202'] !== undefined, 'with its 202 answer')

  const readme = readFileSync(repoPath('README.md'), 'utf8')
  for (const path of paths) {
    const shown = path.replace(/^\/api\/v1/, '').replace(/\{(\w+)\}/g, ':$1')
    t.ok(readme.includes(shown), `README lists ${shown}`)
  }
  for (const code of ERROR_CODES) t.ok(readme.includes(`\`${code}\``), `README lists error ${code}`)
})
