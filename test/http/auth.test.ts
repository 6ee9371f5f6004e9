import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { spawnSync } from 'node:child_process'
import { repoPath } from '../../src/util/paths'
import { testEnv } from '../helpers/env'
import { startTestService } from '../helpers/sale'

t.test('accounts: register, login, me, refresh rotation, logout', async (t) => {
  const env = await testEnv(t, { ADMIN_EMAIL: 'Boss@Example.com', ADMIN_PASSWORD: 'admin-password-1', ACCESS_TOKEN_TTL_MS: '1500' })
  const { http } = await startTestService(env)

  const reg = await http.request('POST', '/api/v1/auth/register', { body: { email: 'Ann@Example.com', password: 'correct horse' } })
  t.equal(reg.status, 201)
  t.match(reg.body.data, { user: { email: 'ann@example.com', role: 'user' }, access_token: String, refresh_token: String, expires_in: 1 })
  const dup = await http.request('POST', '/api/v1/auth/register', { body: { email: 'ann@example.com', password: 'another long one' } })
  t.equal(dup.status, 409)
  t.equal(dup.body.code, 'EMAIL_TAKEN')
  for (const [what, body] of [['bad email', { email: 'nope', password: 'long enough' }], ['short password', { email: 'b@example.com', password: 'short' }], ['extra field', { email: 'c@example.com', password: 'long enough', role: 'admin' }]] as const) {
    const r = await http.request('POST', '/api/v1/auth/register', { body })
    t.equal(r.status, 400, what)
  }
  const row = await env.db('users').first('password_hash').where({ email: 'ann@example.com' }) as { password_hash: string }
  t.match(row.password_hash, /^scrypt\$131072\$8\$1\$/, 'the password is stored as an scrypt hash')

  const login = await http.request('POST', '/api/v1/auth/login', { body: { email: 'ANN@example.com', password: 'correct horse' } })
  t.equal(login.status, 200)
  const me = await http.request('GET', '/api/v1/me', { token: login.body.data.access_token })
  t.match(me.body.data, { email: 'ann@example.com', role: 'user' })

  const wrong = await http.request('POST', '/api/v1/auth/login', { body: { email: 'ann@example.com', password: 'wrong horse' } })
  const unknown = await http.request('POST', '/api/v1/auth/login', { body: { email: 'nobody@example.com', password: 'wrong horse' } })
  t.equal(wrong.status, 401)
  t.equal(unknown.status, 401)
  t.same([wrong.body.code, wrong.body.message], [unknown.body.code, unknown.body.message], 'an unknown email and a wrong password look the same')

  // Rotation: the new refresh token works, the used one is refused and revokes the family.
  const first = login.body.data.refresh_token as string
  const second = await http.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: first } })
  t.equal(second.status, 200)
  t.not(second.body.data.refresh_token, first, 'a new refresh token')
  const third = await http.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: second.body.data.refresh_token } })
  t.equal(third.status, 200, 'the rotated token works once')
  const replay = await http.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: first } })
  t.equal(replay.status, 401, 'a used refresh token is refused')
  t.equal(replay.body.code, 'INVALID_REFRESH_TOKEN')
  const afterReplay = await http.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: third.body.data.refresh_token } })
  t.equal(afterReplay.status, 401, 'and the replay revoked the whole family')
  t.equal((await http.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: 'garbage' } })).status, 401)

  // Logout revokes.
  const again = await http.request('POST', '/api/v1/auth/login', { body: { email: 'ann@example.com', password: 'correct horse' } })
  t.equal((await http.request('POST', '/api/v1/auth/logout', { body: { refresh_token: again.body.data.refresh_token } })).status, 204)
  t.equal((await http.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: again.body.data.refresh_token } })).status, 401, 'refresh after logout')

  // Access tokens are short-lived.
  await sleep(2100)
  const expired = await http.request('GET', '/api/v1/me', { token: again.body.data.access_token })
  t.equal(expired.status, 401)
  t.equal(expired.body.message, 'token expired')

  // The first admin comes from configuration; a buyer is refused admin routes.
  const admin = await http.request('POST', '/api/v1/auth/login', { body: { email: 'boss@example.com', password: 'admin-password-1' } })
  t.equal(admin.status, 200)
  const product = await http.request('POST', '/api/v1/admin/products', { token: admin.body.data.access_token, body: { title: 'x', price_cents: 1 } })
  t.equal(product.status, 201, 'the configured admin may create products')
  const buyer = await http.request('POST', '/api/v1/auth/login', { body: { email: 'ann@example.com', password: 'correct horse' } })
  const asUser = await http.request('POST', '/api/v1/admin/products', { token: buyer.body.data.access_token, body: { title: 'x', price_cents: 1 } })
  t.equal(asUser.status, 403)
})

t.test('login is limited per account and per address', async (t) => {
  const env = await testEnv(t, { RATE_LIMIT_LOGIN: '3', RATE_LIMIT_WINDOW_MS: '60000' })
  const { http } = await startTestService(env)
  await env.db('users').insert({ email: 'target@example.com', password_hash: null, role: 'user' })
  const tries = []
  for (let i = 0; i < 4; i++) tries.push((await http.request('POST', '/api/v1/auth/login', { body: { email: 'target@example.com', password: `guess-${i}xx` } })).status)
  t.same(tries, [401, 401, 401, 429], 'three attempts, then the account is protected')
  const limited = await http.request('POST', '/api/v1/auth/login', { body: { email: 'target@example.com', password: 'password-1' } })
  t.equal(limited.status, 429, 'even the right password waits')
  t.equal(limited.body.code, 'RATE_LIMITED')
  // Another account from the same address: the per-address quota (3) is spent as well.
  const other = await http.request('POST', '/api/v1/auth/login', { body: { email: 'other@example.com', password: 'password-2' } })
  t.equal(other.status, 429, 'one address cannot spray many accounts')
  t.ok(Number(other.headers.get('retry-after')) > 0, 'Retry-After is set')
})

t.test('npm run create-admin makes an admin', async (t) => {
  const env = await testEnv(t)
  const r = spawnSync(process.execPath, [repoPath('dist', 'src', 'cli', 'create-admin.js'), 'ops@example.com', 'ops-password-1'], { env: { PATH: process.env.PATH ?? '', ...env.env }, encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /admin ops@example.com \(id \d+\) created with the password given/)
  const row = await env.db('users').first('role').where({ email: 'ops@example.com' }) as { role: string }
  t.equal(row.role, 'admin')
  const bad = spawnSync(process.execPath, [repoPath('dist', 'src', 'cli', 'create-admin.js'), 'x'], { env: { PATH: process.env.PATH ?? '', ...env.env }, encoding: 'utf8' })
  t.equal(bad.status, 2, 'usage error')
})
