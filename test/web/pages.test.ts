import t from 'tap'
import { existsSync } from 'node:fs'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { createSale, startTestService } from '../helpers/sale'
import { CHROMIUM, launchBrowser, shot, signUp } from '../helpers/browser'

t.test('in a real browser: a buyer waits for the start, queues, wins and pays; a second buyer sees sold out; the operator page shows the counts change', async (t) => {
  t.ok(existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (apt-get install -y chromium)`)
  if (!existsSync(CHROMIUM)) return
  const admin = { ADMIN_EMAIL: 'ops@example.com', ADMIN_PASSWORD: 'operator password 1' }
  const env = await testEnv(t, { ...admin, PAYMENT_TIMEOUT_MS: '600000' })
  // Ingress alone at first, so the buyers' tickets wait in line where the page can show them.
  const { http } = await startTestService(env, loadConfig({ ...env.env, ...admin, PROCESS_ROLE: 'ingress' }))
  // The sale starts well after the pages are up; once the countdown has been seen, the admin moves
  // the start to a moment from now (a fixed lead from creation was missed when the page opened late).
  const eventId = await createSale(http, env, { stock: 1, startInMs: 600_000 })

  const browser = await launchBrowser(env)
  const phone = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage()
  const desktop = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage()
  const operator = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage()

  // The buyer page lists the sale; the sale page counts down by the server's clock.
  await phone.goto(`${http.base}/`)
  await phone.getByText('Coming up').waitFor()
  t.ok(await phone.getByRole('link', { name: 'Flash drop' }).isVisible(), 'the upcoming sale is listed')
  await signUp(phone, `first-${env.id}@example.com`)
  await phone.getByRole('link', { name: 'Flash drop' }).click()
  await phone.waitForSelector('#countdown:has-text("Starts in")')
  t.equal(await phone.evaluate('document.activeElement?.textContent'), 'Flash drop', 'the focus is on the sale\'s heading')
  t.ok(await phone.isDisabled('#buy'), 'Buy is disabled before the start')
  await shot(phone, '1-buyer-countdown')

  await desktop.goto(`${http.base}/#/events/${eventId}`)
  await signUp(desktop, `second-${env.id}@example.com`)
  await desktop.waitForSelector('#countdown:has-text("Starts in")')

  // Both buyers wait on the countdown; the sale now starts in 3 s (edits stop 2 s before a start).
  const startAt = Date.now() + 3000
  const moved = await http.request('PATCH', `/api/v1/admin/events/${eventId}`, {
    token: env.token(1, 'admin'),
    body: { start_at: new Date(startAt).toISOString() }
  })
  t.equal(moved.status, 200, 'the start is moved nearer')

  // At the start Buy enables; a double click sends one buy.
  await phone.waitForSelector('#buy:not([disabled])')
  await phone.dblclick('#buy')
  await phone.waitForSelector('#ticket-status:has-text("You are in line")')
  t.match(await phone.textContent('#ticket'), /Place in line: 1/, 'the place in line is shown')
  t.equal(await phone.evaluate('document.activeElement?.id'), 'ticket-status', 'the focus is on the ticket')
  await shot(phone, '2-buyer-in-line')
  await desktop.waitForSelector('#buy:not([disabled])')
  await desktop.click('#buy')
  await desktop.waitForSelector('#ticket-status:has-text("You are in line")')
  // A reload mid-wait keeps the place in line: the page reads the buyer's ticket back.
  await desktop.reload()
  await desktop.waitForSelector('#ticket-status:has-text("You are in line")')
  t.match(await desktop.textContent('#ticket'), /Place in line: 2/, 'a reload keeps the place in line')
  // Nothing drains yet: once the place has not moved for a few seconds, the page says the line is paused.
  await desktop.waitForSelector('#eta:has-text("The line is paused")')
  t.pass('a line that does not move is said to be paused')
  await shot(desktop, '8-buyer-line-paused')

  await operator.goto(`${http.base}/ops#${eventId}`)
  await operator.getByLabel('Email').fill(admin.ADMIN_EMAIL)
  await operator.getByLabel('Password').fill(admin.ADMIN_PASSWORD)
  await operator.click('#sign-in')
  await operator.waitForSelector('dd[data-stat="admitted"]:text-is("2")')
  t.equal(await operator.textContent('dd[data-stat="sold"]'), '0', 'nothing sold while no worker drains')
  // Buyers wait and nothing is decided: the operator is told, and why.
  await operator.waitForSelector('#stuck:has-text("No worker is running")')
  await shot(operator, '9-operator-no-worker')
  t.match(await operator.textContent('#owners') ?? '', /Workers alive: none/, 'no worker listed')

  // A worker starts draining: the first in line wins, the second is told sold out.
  await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'worker' }))
  await phone.waitForSelector('#ticket-status:has-text("You won!")', { timeout: 30_000 })
  await phone.waitForSelector('.order-status:has-text("pending payment")')
  t.match(await phone.textContent('.timer'), /Time left to pay: \d+ min/, 'the payment deadline counts down')
  await shot(phone, '3-buyer-won')
  // Pay: to the payment provider's page (the local one), Approve, and back to the sale.
  await phone.click('button[data-action="pay"]')
  await phone.waitForSelector('#approve')
  t.match(await phone.textContent('#amount'), /99\.00 USD/, 'the provider shows the amount')
  await shot(phone, '4a-provider-page')
  await phone.click('#approve')
  await phone.waitForSelector('#payment-result:has-text("Payment received")', { timeout: 30_000 })
  await phone.waitForSelector('.order-status:has-text("paid")')
  t.equal(await phone.evaluate('document.activeElement?.id'), 'payment-result', 'back from paying, the focus is on what happened')
  t.match(await phone.textContent('.receipt') ?? '', /Receipt.*Amount paid\$99\.00.*Paid at/, 'a receipt after paying')
  await shot(phone, '4-buyer-paid')
  // After a reload the winner still sees the win and the paid order, not "Sold out".
  await phone.reload()
  await phone.waitForSelector('.order-status:has-text("paid")')
  t.match(await phone.textContent('#ticket-status'), /Paid/, 'a reload keeps the win, paid')
  await desktop.waitForSelector('#ticket-status:has-text("Sold out")', { timeout: 30_000 })
  await shot(desktop, '5-second-buyer-sold-out')

  await operator.waitForSelector('dd[data-stat="sold"]:text-is("1")', { timeout: 10_000 })
  await operator.waitForSelector('dd[data-stat="paid"]:text-is("1")')
  await operator.waitForSelector('dd[data-stat="captured"]:text-is("1")')
  await operator.waitForSelector('#stuck:empty', { state: 'attached' })
  t.match(await operator.textContent('#owners') ?? '', /Shards: 0 → [^n]/, 'the shard\'s worker is named')
  t.equal(await operator.textContent('dd[data-stat="left"]'), '0', 'the operator sees the stock gone')
  await operator.waitForTimeout(1500) // a few more samples on the charts
  await shot(operator, '6-operator-live')

  const orders = await env.db('orders').where({ event_id: eventId }).select('status')
  t.same(orders.map((o: { status: string }) => o.status), ['paid'], 'one order, paid, in MySQL')

  // My orders lists it.
  await phone.goto(`${http.base}/#/orders`)
  await phone.waitForSelector('.order-status:has-text("paid")')
  t.equal(await phone.textContent('.order-title'), 'Flash drop', 'each order under its sale\'s title')
  t.match(await phone.textContent('.order-date') ?? '', /^Ordered .+ · paid /, 'with when it was ordered and paid')
  t.match(await phone.textContent('.receipt') ?? '', /\$99\.00/, 'and its receipt')
  await shot(phone, '7-buyer-orders')
})
