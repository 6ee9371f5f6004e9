// Regression (issue: admin takeover by pre-registration). Someone registers the operator's address
// before the first start; the operator then starts the service with ADMIN_EMAIL/ADMIN_PASSWORD.
// Before the fix the existing account was made admin and kept the registrant's password.
import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { repoPath } from '../../src/util/paths'
import { testEnv } from '../helpers/env'
import { httpClient } from '../helpers/sale'
import type { Http } from '../helpers/sale'
import { freePort, spawnService, whenReady, within } from '../helpers/processes'

const run = promisify(execFile)
const OPS = 'ops@example.com'
const ATTACKER_PASSWORD = 'attacker chosen pass'
const OPERATOR_PASSWORD = 'the operator long password'

async function login (http: Http, password: string): Promise<{ status: number, role?: string, refresh?: string }> {
  const r = await http.request('POST', '/api/v1/auth/login', { body: { email: OPS, password } })
  if (r.status !== 200) return { status: r.status }
  const me = await http.request('GET', '/api/v1/me', { token: r.body.data.access_token })
  return { status: r.status, role: me.body.data.role, refresh: r.body.data.refresh_token }
}

t.test('a pre-registered operator address: the service refuses to promote it, create-admin takes it back', async (t) => {
  const env = await testEnv(t, { RATE_LIMIT_LOGIN: '1000' })
  const port = await freePort()
  const http = httpClient(`http://127.0.0.1:${port}`)

  // The attacker registers the operator's address on a running service.
  const first = spawnService(env, { PORT: String(port) })
  await whenReady(first, http.base)
  const reg = await http.request('POST', '/api/v1/auth/register', { body: { email: OPS, password: ATTACKER_PASSWORD } })
  t.equal(reg.status, 201, 'the address was free to register')
  const attackerRefresh = reg.body.data.refresh_token as string
  t.equal(await first.stop(), '0')

  // The operator starts it with that address as the admin: refused, nothing changed.
  const refused = spawnService(env, { PORT: String(port), ADMIN_EMAIL: OPS, ADMIN_PASSWORD: OPERATOR_PASSWORD })
  t.equal(await within(60_000, refused.exited, 'the refused start'), '2', 'the process refuses to start (exit 2)')
  t.match(refused.output(), /ADMIN_EMAIL names an existing account/, 'and says why')
  t.notMatch(refused.output(), new RegExp(OPERATOR_PASSWORD), 'without printing the password')
  const row = await env.db('users').first('role').where({ email: OPS }) as { role: string }
  t.equal(row.role, 'user', 'the registrant was not made admin')

  // create-admin sets the operator's password: the registrant's password and sign-in stop working.
  const out = await run(process.execPath, [repoPath('dist', 'src', 'cli', 'create-admin.js'), OPS, OPERATOR_PASSWORD], { env: { PATH: process.env.PATH ?? '', ...env.env } })
  t.match(out.stdout, /now admin; its password was set/, 'create-admin says it set the password')

  const again = spawnService(env, { PORT: String(port), ADMIN_EMAIL: OPS, ADMIN_PASSWORD: OPERATOR_PASSWORD })
  await whenReady(again, http.base)
  t.equal((await login(http, ATTACKER_PASSWORD)).status, 401, "the registrant's password no longer signs in")
  const refreshed = await http.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: attackerRefresh } })
  t.equal(refreshed.status, 401, "the registrant's refresh token is void")
  const operator = await login(http, OPERATOR_PASSWORD)
  t.equal(operator.status, 200, 'the operator signs in')
  t.equal(operator.role, 'admin', 'as admin')
  t.equal(await again.stop(), '0')
})

t.test('ADMIN_PASSWORD that matches the existing account: it is made admin', async (t) => {
  const env = await testEnv(t)
  const port = await freePort()
  const http = httpClient(`http://127.0.0.1:${port}`)
  const first = spawnService(env, { PORT: String(port) })
  await whenReady(first, http.base)
  t.equal((await http.request('POST', '/api/v1/auth/register', { body: { email: OPS, password: OPERATOR_PASSWORD } })).status, 201)
  t.equal(await first.stop(), '0')
  const second = spawnService(env, { PORT: String(port), ADMIN_EMAIL: OPS, ADMIN_PASSWORD: OPERATOR_PASSWORD })
  await whenReady(second, http.base)
  t.equal((await login(http, OPERATOR_PASSWORD)).role, 'admin')
  t.equal(await second.stop(), '0')
})
