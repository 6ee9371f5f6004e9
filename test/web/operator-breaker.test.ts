/**
 * Issue 32, item 4's other cause on the operator page, in Chromium: the worker alive, its drain
 * breaker open because MySQL cannot be reached (through a proxy the test cuts); the line-stopped
 * warning says so, with the worker shown alive, and clears itself once a probe closes the breaker.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import type { Page } from 'playwright-core'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import type { Http } from '../helpers/sale'
import { tcpProxy } from '../helpers/tcp-proxy'
import { CHROMIUM, launchBrowser } from '../helpers/browser'

const creds = { ADMIN_EMAIL: 'ops@example.com', ADMIN_PASSWORD: 'operator password 1' }

async function opsPage (page: Page, http: Http, eventId: number): Promise<Page> {
  await page.goto(`${http.base}/ops#${eventId}`)
  await page.getByLabel('Email').fill(creds.ADMIN_EMAIL)
  await page.getByLabel('Password').fill(creds.ADMIN_PASSWORD)
  await page.click('#sign-in')
  await page.waitForSelector('dd[data-stat="in-line"]')
  return page
}

const stat = async (page: Page, key: string): Promise<string> => (await page.textContent(`dd[data-stat="${key}"]`)) ?? ''

async function queue (http: Http, env: TestEnv, eventId: number, users: number[]): Promise<void> {
  for (const u of users) {
    const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(u) })
    if (r.status !== 202) throw new Error(`buy ${u}: ${r.status}`)
  }
}

t.test('the worker alive, its drain breaker open (MySQL unreachable): the line-stopped warning names the breaker, and clears after', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  const env = await testEnv(t, creds)
  const db = new URL(env.config.databaseUrl)
  const proxy = await tcpProxy(t, db.hostname, Number(db.port === '' ? 3306 : db.port))
  const viaProxy = new URL(env.config.databaseUrl)
  viaProxy.host = `127.0.0.1:${proxy.port}`
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock: 5 })
  // The worker reaches MySQL through a proxy the test cuts (its errors then expected: only fatal
  // ones logged); the ingress reaches MySQL directly.
  const { service: worker } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'worker', METRICS_PORT: '0', DATABASE_URL: viaProxy.toString(), LOG_LEVEL: 'fatal' }))
  const breaker = worker.dispatcher?.breaker
  if (breaker === undefined) throw new Error('the worker has no dispatcher')
  const browser = await launchBrowser(env)
  const ops = await opsPage(await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage(), http, eventId)

  // A first buyer is decided: the drain works.
  await queue(http, env, eventId, [901])
  await ops.waitForSelector('dd[data-stat="decided"]:text-is("1")', { timeout: 30_000 })

  proxy.cut()
  await queue(http, env, eventId, [902, 903])
  await until(async () => breaker.current !== 'closed', 60_000, 'the breaker to open')
  await ops.waitForSelector('#stuck:has-text("nothing decided")', { timeout: 40_000 })
  t.equal(breaker.current === 'closed', false, 'the breaker is still open while the page warns')
  const warning = await ops.textContent('#stuck') ?? ''
  t.match(warning, /^2 in line and nothing decided for \d+ s\. /, 'the warning says how many wait')
  t.match(warning, /the drain's breaker is open/, 'it names the breaker as a cause')
  t.notMatch(warning, /No worker is running/, 'not "no worker": the worker is alive')
  t.match(await ops.textContent('#owners') ?? '', /^Workers alive: \S+ \(seen/, 'the page shows the worker alive')
  t.equal(await stat(ops, 'clear-in'), 'not moving', 'the line does not clear')

  // MySQL reachable again: a probe closes the breaker, the line drains, the warning clears itself.
  proxy.restore()
  await ops.waitForSelector('dd[data-stat="decided"]:text-is("3")', { timeout: 60_000 })
  await ops.waitForSelector('#stuck:empty', { state: 'attached' })
  t.equal(breaker.current, 'closed', 'the breaker closed')
  t.pass('the warning clears once the line moves')
})
