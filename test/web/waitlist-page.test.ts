/**
 * Issue 32, item 2 with the waitlist, and issue 34's acceptance for it: a sold-out waitlist sale
 * says what its rule is and offers to join the waitlist; the buyer turned away is first on it, and
 * wins the first unit that comes back, before a newcomer who asked earlier than the return,
 * without a reload.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { startTestService, until } from '../helpers/sale'
import { CHROMIUM, launchBrowser, signUp } from '../helpers/browser'

t.test('a sold-out waitlist sale: join the waitlist from the page, see the place, win when a unit comes back', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  const env = await testEnv(t)
  const { http } = await startTestService(env, loadConfig({ ...env.env }))
  const admin = env.token(1, 'admin')
  const product = await http.request('POST', '/api/v1/admin/products', { token: admin, body: { title: 'Sneaker', price_cents: 9900 } })
  const start = Date.now() - 1000
  const created = await http.request('POST', '/api/v1/admin/events', {
    token: admin,
    body: { product_id: product.body.data.id, title: 'Waitlist drop', price_cents: 9900, stock: 1, shards: 1, waitlist: true, start_at: new Date(start).toISOString(), end_at: new Date(start + 3_600_000).toISOString() }
  })
  t.equal(created.status, 201, 'a waitlist sale')
  const eventId = created.body.data.id as number

  // The one unit goes to the first buyer.
  const first = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(800) })
  let orderId = ''
  await until(async () => {
    const r = await http.request('GET', `/api/v1/tickets/${first.body.data.ticket_id}?wait=1000`, { token: env.token(800) })
    orderId = r.body.data.order_id ?? ''
    return r.body.data.status === 'won'
  }, 30_000, 'the first buyer to win')

  const browser = await launchBrowser(env)
  const page = await (await browser.newContext()).newPage()
  await page.goto(`${http.base}/#/events/${eventId}`)
  await signUp(page, `waitlist-${env.id}@example.com`)
  await page.waitForSelector('#stock:has-text("the waitlist is open")')
  t.match(await page.textContent('#stock') ?? '', /goes to the first buyer on it, in order of arrival/, 'the page says what the rule is')
  await page.waitForSelector('#buy:not([disabled]):has-text("Join the waitlist")')
  await page.click('#buy')
  await page.waitForSelector('#ticket-status:has-text("On the waitlist")')
  t.equal(await page.textContent('#ahead'), 'You are first on the waitlist.', 'turned away, the buyer is first on the waitlist')
  t.match(await page.textContent('#buy-why') ?? '', /on the waitlist/, 'Buy is off, and why')

  // A newcomer asks before any unit comes back: behind the page's buyer, not past them.
  const newcomer = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(801) })
  t.match(newcomer.body.data, { status: 'sold_out', waitlisted: true, waitlist_place: 2 }, 'the newcomer is second on the waitlist')

  // The first buyer cancels: the unit comes back and goes to the waitlist's first buyer.
  const cancelled = await http.request('POST', `/api/v1/orders/${orderId}/cancel`, { token: env.token(800) })
  t.equal(cancelled.status, 200, 'the first buyer cancels')
  await page.waitForSelector('#ticket-status:has-text("You won!")', { timeout: 60_000 })
  t.pass('the waitlisted buyer wins without a reload')
  const after = await http.request('GET', `/api/v1/tickets/${newcomer.body.data.ticket_id as string}`, { token: env.token(801) })
  t.match(after.body.data, { status: 'sold_out', waitlisted: true, waitlist_place: 1 }, 'the newcomer did not get the returned unit: next in line for the following one')
})
