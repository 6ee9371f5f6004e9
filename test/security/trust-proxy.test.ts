// Regression (issue: no proxy setting): behind a load balancer every client shared the per-IP
// register/login limit. TRUST_PROXY makes X-Forwarded-For count, and only from the proxies named.
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { startTestService } from '../helpers/sale'
import type { Test } from '../helpers/tap-types'

async function registerThree (t: Test, trustProxy: string | undefined): Promise<number[]> {
  const statuses: number[] = []
  await t.test(`TRUST_PROXY=${trustProxy ?? '(unset)'}`, async (t) => {
    const env = await testEnv(t, { RATE_LIMIT_LOGIN: '2', RATE_LIMIT_WINDOW_MS: '60000', ...(trustProxy === undefined ? {} : { TRUST_PROXY: trustProxy }) })
    const { http } = await startTestService(env)
    for (let i = 1; i <= 3; i++) {
      const r = await http.request('POST', '/api/v1/auth/register', { headers: { 'x-forwarded-for': `10.0.0.${i}` }, body: { email: `buyer${i}@example.com`, password: 'a long buyer password' } })
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
