/**
 * The wait as a buyer lives it in the page: behind a long line, the place counts down while the
 * drain runs; and a stopped server shows the connection banner, which clears itself once the
 * server is back.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { createSale, pool, startTestService, until } from '../helpers/sale'
import { CHROMIUM, launchBrowser, shot, signUp } from '../helpers/browser'

t.test('behind a long line the place counts down while the drain runs; a stopped server shows the banner until it is back', async (t) => {
  t.ok(existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (apt-get install -y chromium)`)
  if (!existsSync(CHROMIUM)) return
  // One ticket a batch, one batch at a time: the line moves for seconds, not milliseconds.
  const env = await testEnv(t, { DRAIN_BATCH: '1', DRAIN_PIPELINE: '1' })
  const ingress = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const { http } = ingress
  const eventId = await createSale(http, env, { stock: 3000 })
  // 2,400 buyers in line first (nothing drains yet); one batch a ticket takes a few ms, so the line
  // moves for several of the page's 2 s polls.
  await pool(Array.from({ length: 2400 }, (_, i) => 700_000 + i), 50, async (user) => {
    const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })
    if (r.status !== 202) throw new Error(`buy ${user}: ${r.status}`)
  })

  const browser = await launchBrowser(env)
  const page = await (await browser.newContext()).newPage()
  await page.goto(`${http.base}/#/events/${eventId}`)
  await signUp(page, `line-${env.id}@example.com`)
  await page.waitForSelector('#buy:not([disabled])')
  await page.click('#buy')
  // Counts are formatted for the buyer's locale (en-US: 2,401).
  await page.waitForSelector('#ticket:has-text("Place in line: 2,401")')

  // The drain starts: the page's place must come down in steps before the answer.
  await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'worker', METRICS_PORT: '0' }))
  const places: number[] = []
  await until(async () => {
    const text = await page.textContent('#ticket') ?? ''
    const m = /Place in line: ([\d,]+)/.exec(text)
    const place = m === null ? undefined : Number((m[1] as string).replace(/,/g, ''))
    if (place !== undefined && place !== places[places.length - 1]) places.push(place)
    if (places.length === 3) await shot(page, '10-buyer-line-moving')
    return text.includes('You won!')
  }, 120_000, 'the buyer\'s answer').catch((err: Error) => { throw new Error(`${err.message}; places seen: ${places.join(' → ')}`) })
  t.ok(places.length >= 3, `the place was shown at least three times while the line moved: ${places.join(' → ')}`)
  t.ok(places.every((p, i) => i === 0 || p < (places[i - 1] as number)), 'always downwards')

  // The server stops: the banner says so; back on the same port, it clears itself.
  const port = Number(new URL(http.base).port)
  await ingress.service.stop()
  await page.waitForSelector('#connection:has-text("cannot be reached")')
  t.pass('the banner appears while the server is stopped')
  await shot(page, '11-buyer-server-down')
  await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress', PORT: String(port) }))
  await page.waitForSelector('#connection:empty', { state: 'attached' })
  t.pass('and clears itself once it is back')
})
