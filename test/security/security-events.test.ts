// Issue item 11: no security events in the logs (failed logins, 401/403/429, admin changes). Each
// is now counted in seckill_security_events_total{kind} and logged with the request id, address
// and route -- never the token or password that came with it.
import t from 'tap'
import { testEnv } from '../helpers/env'
import { httpClient, until } from '../helpers/sale'
import { freePort, spawnService, whenReady } from '../helpers/processes'
import { parsePrometheus, sum } from '../helpers/prometheus'

t.test('security events are counted and logged, without secrets', async (t) => {
  const env = await testEnv(t, { RATE_LIMIT_LOGIN: '3', RATE_LIMIT_WINDOW_MS: '60000' })
  const [port, metricsPort] = [await freePort(), await freePort()]
  const svc = spawnService(env, { PORT: String(port), METRICS_PORT: String(metricsPort), LOG_LEVEL: 'info' })
  t.teardown(async () => { await svc.stop() })
  const http = httpClient(`http://127.0.0.1:${port}`)
  await whenReady(svc, http.base)

  const secretPassword = 'a-password-that-must-not-be-logged'
  const forgedToken = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXRoYXQtbXVzdC1ub3QtYmUtbG9nZ2Vk'
  const answers: Record<string, string> = {}
  const note = (what: string, r: { status: number, headers: Headers }): void => { answers[what] = r.headers.get('x-request-id') ?? '' }
  note('login_failed', await http.request('POST', '/api/v1/auth/login', { body: { email: 'victim@example.com', password: secretPassword } }))
  note('unauthorized', await http.request('GET', '/api/v1/me', { token: forgedToken }))
  note('forbidden', await http.request('POST', '/api/v1/admin/products', { token: env.token(7), body: { title: 'x', price_cents: 1 } }))
  note('weak_password', await http.request('POST', '/api/v1/auth/register', { body: { email: 'weak@example.com', password: 'password1' } }))
  note('refresh_refused', await http.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: `${'f'.repeat(22)}.${'s'.repeat(43)}` } }))
  for (let i = 0; i < 5; i++) note('rate_limited', await http.request('POST', '/api/v1/auth/login', { body: { email: 'victim@example.com', password: secretPassword } }))
  note('admin_write', await http.request('POST', '/api/v1/admin/products', { token: env.token(1, 'admin'), body: { title: 'Audited', price_cents: 100 } }))

  const metrics = parsePrometheus(String((await httpClient(`http://127.0.0.1:${metricsPort}`).request('GET', '/metrics')).body))
  for (const kind of Object.keys(answers)) t.ok(sum(metrics, 'seckill_security_events_total', { kind }) >= 1, `${kind} is counted`)
  t.ok(sum(metrics, 'seckill_security_events_total', { kind: 'login_failed' }) >= 3, 'every failed login is counted')

  // pino writes asynchronously: wait for the lines, not a duration.
  await until(async () => Object.keys(answers).every((kind) => svc.output().includes(`"security_event":"${kind}"`)), 10_000, 'every event logged')
  const lines = svc.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
  for (const [kind, requestId] of Object.entries(answers)) {
    const line = lines.find((l) => l.security_event === kind)
    t.ok(line, `${kind} is logged`)
    if (line === undefined) continue
    t.equal(line.address, '127.0.0.1', `${kind}: with the address`)
    t.type(line.route, 'string', `${kind}: and the route`)
    if (kind !== 'rate_limited') t.equal(line.request_id, requestId, `${kind}: and the request id it was answered with`)
  }
  t.equal(lines.filter((l) => l.security_event === 'rate_limited').length, 1, 'a burst of refusals from one address is logged once (all counted)')
  const all = svc.output()
  t.notOk(all.includes(secretPassword), 'no password in the logs')
  t.notOk(all.includes(forgedToken) || all.includes('c2lnbmF0dXJlLXRoYXQtbXVzdC1ub3QtYmUtbG9nZ2Vk'), 'no token in the logs')
  t.notOk(all.includes('victim@example.com'), 'no email typed at a login')
})
