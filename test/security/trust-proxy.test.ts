// Regression (issue: no proxy setting): behind a load balancer every client shared the per-IP
// register/login limit. TRUST_PROXY makes X-Forwarded-For count, and only from the proxies named.
import t from 'tap'
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'
import { parse } from 'yaml'
import { ConfigError, loadConfig } from '../../src/config'
import { warnAtStart, watchForUntrustedProxy } from '../../src/http/proxy-hint'
import { repoPath } from '../../src/util/paths'
import { TEST_SECRET, testEnv } from '../helpers/env'
import { startTestService } from '../helpers/sale'
import type { Test } from '../helpers/tap-types'

async function registerThree (t: Test, trustProxy: string | undefined): Promise<number[]> {
  const statuses: number[] = []
  await t.test(`TRUST_PROXY=${trustProxy ?? '(unset)'}`, async (t) => {
    const env = await testEnv(t, { RATE_LIMIT_REGISTER: '2', RATE_LIMIT_WINDOW_MS: '60000', ...(trustProxy === undefined ? {} : { TRUST_PROXY: trustProxy }) })
    const { http } = await startTestService(env)
    for (let i = 1; i <= 3; i++) {
      const r = await http.request('POST', '/api/v1/auth/register', { headers: { 'x-forwarded-for': `10.0.0.${i}` }, body: { email: `buyer${i}@example.com`, password: 'copper kettle orbit marsh' } })
      statuses.push(r.status)
    }
  })
  return statuses
}

t.test('X-Forwarded-For counts only when the proxy is trusted', async (t) => {
  t.same(await registerThree(t, undefined), [201, 201, 429], 'unset: a client cannot pick its address; the third from one socket address is limited')
  t.same(await registerThree(t, '127.0.0.1'), [201, 201, 201], 'trusting the loopback proxy: three clients behind it, each its own limit')
  t.same(await registerThree(t, '10.9.9.9, 192.168.0.0/16'), [201, 201, 429], 'trusting other proxies only: the loopback client is counted by its own address')
  t.throws(() => loadConfig({ TRUST_PROXY: 'everyone!' }), ConfigError, 'a malformed value fails at start')
})

// Issue 30, item 4: the Kubernetes manifests set no TRUST_PROXY behind their Service, so every
// client shared one address; nothing said so. Production now warns, once, at the first request
// that arrives through an untrusted proxy, and at start in a Kubernetes pod.
t.test('production behind an untrusted proxy says so, once', async (t) => {
  const warnings: string[] = []
  const log = { warn: (_obj: object, msg: string) => { warnings.push(msg) } }
  const app = Fastify()
  t.teardown(async () => { await app.close() })
  watchForUntrustedProxy(app, { nodeEnv: 'production', trustProxy: false }, log)
  app.get('/x', async () => 'ok')
  await app.inject({ url: '/x' })
  t.same(warnings, [], 'a direct request: nothing to say')
  for (let i = 0; i < 3; i++) await app.inject({ url: '/x', headers: { 'x-forwarded-for': `203.0.113.${i}` } })
  t.equal(warnings.length, 1, 'said once')
  t.match(warnings[0], /TRUST_PROXY is not set/)

  const quiet: string[] = []
  const trusted = Fastify()
  t.teardown(async () => { await trusted.close() })
  watchForUntrustedProxy(trusted, { nodeEnv: 'production', trustProxy: ['10.0.0.0/8'] }, { warn: (_o, m) => { quiet.push(m) } })
  watchForUntrustedProxy(trusted, { nodeEnv: 'development', trustProxy: false }, { warn: (_o, m) => { quiet.push(m) } })
  trusted.get('/x', async () => 'ok')
  await trusted.inject({ url: '/x', headers: { 'x-forwarded-for': '203.0.113.9' } })
  t.same(quiet, [], 'with TRUST_PROXY, or outside production: nothing')

  const atStart: string[] = []
  const startLog = { warn: (_o: object, m: string) => { atStart.push(m) } }
  const prod = loadConfig({ NODE_ENV: 'production', JWT_SECRET: TEST_SECRET, PAYMENT_PROVIDER: 'stripe', STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_WEBHOOK_SECRET: 'whsec_Q7vK2mX9pL4tR8nB3cW6yF1hJ5dZ0sGa', KUBERNETES_SERVICE_HOST: '10.96.0.1' })
  t.ok(warnAtStart(prod, startLog), 'a production pod without TRUST_PROXY warns at start')
  t.notOk(warnAtStart(loadConfig({ NODE_ENV: 'production', JWT_SECRET: TEST_SECRET, PAYMENT_PROVIDER: 'stripe', STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_WEBHOOK_SECRET: 'whsec_Q7vK2mX9pL4tR8nB3cW6yF1hJ5dZ0sGa', KUBERNETES_SERVICE_HOST: '10.96.0.1', TRUST_PROXY: '10.0.0.0/8' }), startLog), 'with it set: no warning')
  t.notOk(warnAtStart(loadConfig({ NODE_ENV: 'production', JWT_SECRET: TEST_SECRET, PAYMENT_PROVIDER: 'stripe', STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_WEBHOOK_SECRET: 'whsec_Q7vK2mX9pL4tR8nB3cW6yF1hJ5dZ0sGa' }), startLog), 'outside Kubernetes: the first proxied request tells')
  t.equal(atStart.length, 1)
})

t.test('the Kubernetes base trusts its proxies', async (t) => {
  const config = parse(readFileSync(repoPath('ops', 'k8s', 'base', 'config.yaml'), 'utf8')) as { data: Record<string, string> }
  const trust = config.data.TRUST_PROXY
  t.type(trust, 'string', 'TRUST_PROXY is set')
  const parsed = loadConfig({ TRUST_PROXY: trust })
  t.ok(Array.isArray(parsed.trustProxy) && parsed.trustProxy.length > 0, 'and is a valid list of CIDRs')
})
