/**
 * Issue 32, the waiting room as the best drop pages run it, in Chromium: item 7, a first wait
 * estimate from a measured pace (a fresh deployment says it is working it out instead of guessing
 * "about 1 s"; the next sale starts from the pace the drain measured in the last one); the tab
 * title and a notification (with consent) when the buyer wins; the pages in Simplified Chinese
 * from the browser's language, with a switch, and prices formatted for the locale.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { createSale, pool, startTestService, until } from '../helpers/sale'
import { CHROMIUM, launchBrowser, signUp } from '../helpers/browser'

/** Records the notifications the page shows, passing them on to the browser's own. */
const NOTIFICATION_SPY = `{
  const Real = window.Notification
  window.__notes = []
  function Spy (title, options) { window.__notes.push(title); return new Real(title, options) }
  Object.defineProperty(Spy, 'permission', { get: () => Real.permission })
  Spy.requestPermission = (...a) => Real.requestPermission(...a)
  window.Notification = Spy
}`

t.test('item 7: no guessed first estimate; the next sale starts from the pace the drain measured', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  const env = await testEnv(t, { DRAIN_BATCH: '1', DRAIN_PIPELINE: '1' })
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const browser = await launchBrowser(env)
  const queue = async (eventId: number, from: number, n: number): Promise<void> => {
    await pool(Array.from({ length: n }, (_, i) => from + i), 20, async (user) => {
      const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })
      if (r.status !== 202) throw new Error(`buy ${user}: ${r.status}`)
    })
  }

  // A fresh deployment: no drain has ever measured a pace.
  const first = await createSale(http, env, { stock: 100 })
  await queue(first, 710_000, 30)
  const page = await (await browser.newContext()).newPage()
  await page.goto(`${http.base}/#/events/${first}`)
  await signUp(page, `pace-${env.id}@example.com`)
  await page.waitForSelector('#buy:not([disabled])')
  await page.click('#buy')
  await page.waitForSelector('#place:has-text("Place in line: 31")')
  t.match(await page.textContent('#eta') ?? '', /Working out how long the wait is/, 'no number rather than a guess')
  const asked = await http.request('GET', `/api/v1/events/${first}/ticket`, { token: env.token(710_000) })
  t.equal(asked.body.data.eta_ms, undefined, 'the API gives no ETA without a measured pace')

  // A worker drains the sale: the page's wait comes from the pace it sees; the drain records its pace.
  const worker = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'worker', METRICS_PORT: '0' }))
  await page.waitForSelector('#ticket-status:has-text("You won!")', { timeout: 60_000 })
  await until(async () => await env.redis.get(env.keys.drainPace) !== null, 30_000, 'the drain to record its pace')
  const pace = Number(await env.redis.get(env.keys.drainPace))
  t.ok(pace > 0, `the drain's pace is kept: ${pace} tickets/s`)
  await worker.service.stop()

  // The next sale, nothing drained yet: its buyers' first estimate comes from that pace.
  const second = await createSale(http, env, { stock: 100 })
  await queue(second, 720_000, 40)
  // Each ingress reads the kept pace every few seconds: wait for this one to have it.
  let ticket = await http.request('GET', `/api/v1/events/${second}/ticket`, { token: env.token(720_039) })
  await until(async () => {
    ticket = await http.request('GET', `/api/v1/events/${second}/ticket`, { token: env.token(720_039) })
    return ticket.body.data.eta_ms !== undefined
  }, 10_000, 'the ingress to read the kept pace')
  t.equal(ticket.body.data.position, 40, 'the 40th in line')
  t.ok(ticket.body.data.eta_ms > 0, `has an ETA from the last sale's pace: ${ticket.body.data.eta_ms as number} ms`)
  t.ok(Math.abs(ticket.body.data.eta_ms - 40 / pace * 1000) < 1000 / pace + 1, 'position / pace')
  const next = await (await browser.newContext()).newPage()
  await next.goto(`${http.base}/#/events/${second}`)
  await signUp(next, `pace2-${env.id}@example.com`)
  await next.waitForSelector('#buy:not([disabled])')
  await next.click('#buy')
  await next.waitForSelector('#eta:has-text("Expected answer in about")')
  t.pass('the page shows that estimate at once')
})

t.test('the tab title and a notification when the buyer wins; Simplified Chinese from the browser, with a switch', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  const env = await testEnv(t)
  const ingress = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const { http } = ingress
  const eventId = await createSale(http, env, { stock: 2 })
  const browser = await launchBrowser(env)

  // A browser set to Chinese gets the pages in Chinese, prices and times for that locale.
  const context = await browser.newContext({ locale: 'zh-CN', timezoneId: 'Asia/Shanghai' })
  await context.grantPermissions(['notifications'], { origin: http.base })
  await context.addInitScript(NOTIFICATION_SPY)
  const page = await context.newPage()
  await page.goto(`${http.base}/`)
  await page.waitForSelector('h1:text-is("限时抢购")')
  t.equal(await page.getAttribute('html', 'lang'), 'zh-CN', 'the document says its language')
  t.ok(await page.isVisible('label:text-is("邮箱")'), 'the sign-in form in Chinese')
  t.match(await page.textContent('ul.sales') ?? '', /US\$99\.00/, 'the price formatted for zh-CN in the sale\'s currency')
  // The switch: English, and back.
  await page.selectOption('#lang', 'en')
  await page.waitForSelector('h1:text-is("Flash sales")')
  t.pass('the switch turns the page to English')
  await page.selectOption('#lang', 'zh-CN')
  await page.waitForSelector('h1:text-is("限时抢购")')
  t.equal(await page.evaluate('localStorage.getItem("seckill.locale")'), 'zh-CN', 'and the choice is kept')

  await page.goto(`${http.base}/#/events/${eventId}`)
  await page.click('#sign-up-link')
  await page.getByLabel('邮箱').fill(`zh-${env.id}@example.com`)
  await page.getByLabel('密码').fill('correct horse battery')
  await page.click('#sign-up')
  await page.waitForSelector('#signed-in')
  t.match(await page.textContent('#window') ?? '', /^开始：.+ · 结束：.+/, 'the sale\'s times in Chinese')
  await page.waitForSelector('#buy:not([disabled])')
  await page.click('#buy')
  await page.waitForSelector('#ticket-status:text-is("你正在排队")')
  t.match(await page.title(), /排队第 1 位/, 'the tab title says the place')
  // A worker decides: the buyer wins; the title and a notification say so.
  await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'worker', METRICS_PORT: '0' }))
  await page.waitForSelector('#ticket-status:text-is("抢到了！")', { timeout: 60_000 })
  await page.waitForFunction('document.title.includes("抢到了！请付款")')
  t.pass('the tab title says the buyer won and must pay')
  await page.waitForFunction('window.__notes.length > 0')
  t.match(await page.evaluate<string>('window.__notes[0]'), /你抢到了：Flash drop/, 'a notification, in the buyer\'s language')
  t.match(await page.textContent('.timer') ?? '', /剩余付款时间：\d+ 分/, 'the reservation timer in Chinese')
})
