// Issue 30, item 10: token and account answers carried no `Cache-Control: no-store` (a shared
// computer's browser cache, or a proxy, kept tokens); the auth routes' limits failed open when
// Redis erred (unlimited password guessing while Redis was away).
import t from 'tap'
import { testEnv } from '../helpers/env'
import { startTestService } from '../helpers/sale'
import { scriptCommand } from '../../src/redis/scripts'

t.test('token and account answers are never stored; public reads need not be', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const email = 'no-store@example.com'
  const password = 'copper kettle orbit marsh'
  const reg = await http.request('POST', '/api/v1/auth/register', { body: { email, password } })
  t.equal(reg.status, 201)
  const login = await http.request('POST', '/api/v1/auth/login', { body: { email, password } })
  const { access_token: access, refresh_token: refreshToken } = login.body.data as { access_token: string, refresh_token: string }
  const answers: Array<[string, { status: number, headers: Headers }]> = [
    ['register', reg],
    ['login', login],
    ['a refused login', await http.request('POST', '/api/v1/auth/login', { body: { email, password: 'not the password at all' } })],
    ['refresh', await http.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: refreshToken } })],
    ['me', await http.request('GET', '/api/v1/me', { token: access })],
    ['orders', await http.request('GET', '/api/v1/orders', { token: access })],
    ['admin orders', await http.request('GET', '/api/v1/admin/orders', { token: env.token(1, 'admin') })]
  ]
  for (const [what, r] of answers) t.equal(r.headers.get('cache-control'), 'no-store', `${what} (${r.status}): no-store`)
  t.equal((await http.request('GET', '/api/v1/products')).headers.get('cache-control'), null, 'the public catalog is not marked')
})

t.test('with Redis erring, sign-in, refresh, registration and password change are refused, not let through', async (t) => {
  const env = await testEnv(t)
  const { service, http } = await startTestService(env)
  const email = 'closed@example.com'
  const password = 'copper kettle orbit marsh'
  const reg = await http.request('POST', '/api/v1/auth/register', { body: { email, password } })
  t.equal(reg.status, 201)
  const access = reg.body.data.access_token as string

  // The limits' counter script fails as it does when the connection to Redis is gone.
  const command = scriptCommand('reserveQuota')
  const redis = service.runtime.redis as unknown as Record<string, unknown>
  const working = redis[command]
  redis[command] = async () => { throw new Error('Connection is closed.') }
  t.teardown(() => { redis[command] = working })

  const refused: Array<[string, { status: number, body: any }]> = [
    ['login', await http.request('POST', '/api/v1/auth/login', { body: { email, password } })],
    ['register', await http.request('POST', '/api/v1/auth/register', { body: { email: 'other@example.com', password } })],
    ['refresh', await http.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: reg.body.data.refresh_token } })],
    ['password change', await http.request('POST', '/api/v1/me/password', { token: access, body: { current_password: password, new_password: 'amber lantern quietly drifts' } })]
  ]
  for (const [what, r] of refused) {
    t.equal(r.status, 503, `${what}: 503, not let through uncounted`)
    t.equal(r.body.code, 'SALE_NOT_READY', what)
  }
  t.equal(await env.db('users').where({ email: 'other@example.com' }).first() ?? null, null, 'no account was made')
  t.equal((await http.request('GET', '/api/v1/products')).status, 200, 'a catalog read still fails open')

  redis[command] = working
  t.equal((await http.request('POST', '/api/v1/auth/login', { body: { email, password } })).status, 200, 'Redis back: sign-in works')
})
