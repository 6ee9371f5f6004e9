// Regression (issue: a public secret). Without JWT_SECRET the service used a development secret
// printed in the README; a token signed with it as `{sub: "1", role: "admin"}` read every order.
import t from 'tap'
import { createSigner } from 'fast-jwt'
import { testEnv } from '../helpers/env'
import { httpClient } from '../helpers/sale'
import { freePort, spawnService, whenReady } from '../helpers/processes'

const README_SECRET = 'dev-only-secret-change-me-dev-only-secret'

t.test('without JWT_SECRET no known secret is accepted; the development secret is random and shared by restarts', async (t) => {
  const env = await testEnv(t)
  const port = await freePort()
  const http = httpClient(`http://127.0.0.1:${port}`)
  const first = spawnService(env, { PORT: String(port), JWT_SECRET: '', NODE_ENV: 'development', LOG_LEVEL: 'warn' })
  await whenReady(first, http.base)
  t.match(first.output(), /JWT_SECRET is not set/, 'the start warns')

  const forged = createSigner({ key: README_SECRET, expiresIn: 3_600_000 })({ sub: '1', role: 'admin' })
  const read = await http.request('GET', '/api/v1/admin/orders', { token: forged })
  t.equal(read.status, 401, 'a token signed with the once-documented secret is refused')

  const reg = await http.request('POST', '/api/v1/auth/register', { body: { email: 'buyer@example.com', password: 'copper kettle orbit marsh' } })
  t.equal(reg.status, 201)
  const token = reg.body.data.access_token as string
  t.equal((await http.request('GET', '/api/v1/me', { token })).status, 200, 'tokens the service issued work')
  t.equal(await first.stop(), '0')

  const row = await env.db('app_secrets').first('value').where({ name: 'jwt_development' }) as { value: string }
  t.ok(row.value.length >= 48, 'the development secret is kept in the database')
  t.not(row.value, README_SECRET)

  // Another process of the same deployment (a restart, a PM2 sibling) accepts the same tokens.
  const second = spawnService(env, { PORT: String(port), JWT_SECRET: '', NODE_ENV: 'development' })
  await whenReady(second, http.base)
  t.equal((await http.request('GET', '/api/v1/me', { token })).status, 200, 'a restarted process accepts them')
  t.equal(await second.stop(), '0')
})

t.test('production without JWT_SECRET refuses to start', async (t) => {
  const env = await testEnv(t)
  const proc = spawnService(env, { PORT: String(await freePort()), JWT_SECRET: '', NODE_ENV: 'production' })
  t.equal(await proc.exited, '2')
  t.match(proc.output(), /JWT_SECRET: required when NODE_ENV=production/)
})

// Issue 30, item 7: the Kubernetes example's placeholder (and 40 × `a`) served in production.
t.test('production with a placeholder or low-variety secret refuses to start, naming each', async (t) => {
  const env = await testEnv(t)
  const proc = spawnService(env, {
    PORT: String(await freePort()),
    NODE_ENV: 'production',
    JWT_SECRET: 'replace-with-32-or-more-random-characters',
    METRICS_TOKEN: 'a'.repeat(40)
  })
  t.equal(await proc.exited, '2', 'exits 2 before binding anything')
  t.match(proc.output(), /JWT_SECRET: a published placeholder/)
  t.match(proc.output(), /METRICS_TOKEN: too little variety/)
})
