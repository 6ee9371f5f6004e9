/**
 * Issue 32, the buyer's side, each item as a buyer meets it in Chromium:
 * 1. a missed payment deadline shows at once, on the server's clock, with no Pay left;
 * 2. "Sold out" beside units left says what the rule is;
 * 3. Cancel asks first, and the buyer is told why Buy stays off afterwards;
 * 8. sign-in and sign-up are separate forms with visible labels and the password rules up front;
 * 9. keyboard and screen readers: one h1, a visible focus ring, focus never dropped, a live region
 *    that speaks only on change;
 * 10. no red error under the connection banner; Buy never offered beside "You are in line";
 * 11. prices with their currency, times with their time zone, the start as a time, a favicon.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import type { Page } from 'playwright-core'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { createSale, startTestService } from '../helpers/sale'
import { CHROMIUM, launchBrowser, signUp } from '../helpers/browser'

/** Records, from the page's first script on, whether #buy was ever enabled while the ticket said "in line". */
const BUY_WATCH = `
  window.__buyOfferedInLine = false
  new MutationObserver(() => {
    const buy = document.getElementById('buy')
    const status = document.getElementById('ticket-status')
    const inLine = status !== null && status.textContent.includes('in line')
    if (buy !== null && !buy.disabled && (inLine || document.getElementById('buy-why')?.textContent.includes('Checking'))) window.__buyOfferedInLine = true
  }).observe(document, { subtree: true, childList: true, attributes: true, characterData: true })
`

async function orderOf (page: Page): Promise<string> {
  await page.waitForSelector('.order[data-order]')
  return await page.getAttribute('.order[data-order]', 'data-order') as string
}

t.test('items 8, 1, 11: sign up on its own form; the deadline passes in view and the page says so at once; currency and time zones', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  const env = await testEnv(t, { PAYMENT_TIMEOUT_MS: '6000' })
  const { http } = await startTestService(env, loadConfig({ ...env.env }))
  const eventId = await createSale(http, env, { stock: 2 })
  const browser = await launchBrowser(env)
  const page = await (await browser.newContext({ viewport: { width: 390, height: 844 }, timezoneId: 'UTC', locale: 'en-US' })).newPage()
  await page.goto(`${http.base}/#/events/${eventId}`)

  // Item 8: the sign-in form is only for signing in; sign-up is its own form, one click away.
  await page.waitForSelector('#sign-in')
  t.ok(await page.locator('label[for="account-email"]').isVisible(), 'the email field has a visible label')
  t.ok(await page.locator('label[for="account-password"]').isVisible(), 'the password field has a visible label')
  t.equal(await page.locator('#sign-up').count(), 0, 'no sign-up button inside the sign-in form')
  await page.click('#sign-up-link')
  await page.waitForSelector('#sign-up')
  t.match(await page.textContent('#password-rules') ?? '', /8 to 128 characters.*not easy to guess/, 'the password rules are shown before any try')
  t.equal(await page.getAttribute('#account-password', 'aria-describedby'), 'password-rules', 'and tied to the field')
  await page.getByLabel('Email').fill(`new-${env.id}@example.com`)
  await page.getByLabel('Password').fill('correct horse battery')
  await page.getByLabel('Password').press('Enter')
  await page.waitForSelector('#signed-in')
  t.pass('Enter on the sign-up form creates the account (no "Wrong email or password")')

  // Item 11: the price with its currency, the sale's times with their zone, the favicon.
  t.match(await page.textContent('#price') ?? '', /\$99\.00/, 'the price carries its currency')
  t.match(await page.textContent('#window') ?? '', /Starts .*\d{4}.*UTC · ends .*UTC/, 'the start and end as times with their time zone')
  t.equal((await fetch(`${http.base}/favicon.ico`)).status, 200, '/favicon.ico answers')

  // Item 1: the buyer wins; the reservation timer counts down on the server's clock.
  await page.waitForSelector('#buy:not([disabled])')
  await page.click('#buy')
  await page.waitForSelector('#ticket-status:has-text("You won!")')
  const orderId = await orderOf(page)
  await page.waitForSelector('.timer:has-text("Time left to pay")')
  t.match(await page.textContent('.reserved') ?? '', /reserved for you until \d\d:\d\d:\d\d/, 'until when, as a time')
  const row = await env.db('orders').where({ id: orderId }).first() as { expires_at: Date }
  // The deadline passes with the page open: it says so at once, with nothing left to press.
  await page.waitForSelector('#ticket-status:has-text("Time to pay has run out")', { timeout: 15_000 })
  const shownAt = Date.now()
  t.ok(shownAt >= row.expires_at.getTime() - 250, 'not before the deadline (server clock)')
  t.equal(await page.locator('button[data-action="pay"]').count(), 0, 'no Pay after the deadline')
  t.equal(await page.locator('button[data-action="cancel"]').count(), 0, 'no Cancel either')
  t.match(await page.textContent('#ticket') ?? '', /next buyer in line/, 'and what happens next')
  // The service closes the order; the page reads it without a reload and says why Buy stays off.
  await page.waitForSelector('.order-status:has-text("expired")', { timeout: 15_000 })
  await page.waitForSelector('#buy-why:has-text("expired unpaid")')
  t.ok(await page.isDisabled('#buy'), 'Buy stays off, and the page says why')
  // My orders shows the same.
  await page.goto(`${http.base}/#/orders`)
  await page.waitForSelector('.order[data-phase="expired"]')
  t.match(await page.textContent('.order') ?? '', /expired.*deadline passed/, 'My orders says it expired and why')
})

t.test('items 3, 9: Cancel asks first and the buyer is told why they are barred; focus, headings and the focus ring', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  const admin = { ADMIN_EMAIL: 'ops@example.com', ADMIN_PASSWORD: 'operator password 1' }
  const env = await testEnv(t, { ...admin, PAYMENT_TIMEOUT_MS: '600000' })
  const { http } = await startTestService(env, loadConfig({ ...env.env, ...admin }))
  const eventId = await createSale(http, env, { stock: 2 })
  const browser = await launchBrowser(env)
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage()
  await page.goto(`${http.base}/`)
  await page.waitForSelector('h1:has-text("Flash sales")')
  // Item 9: from the top of the page, Tab reaches sign-in before any sale link.
  const reached: string[] = []
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press('Tab')
    reached.push(await page.evaluate<string>('(() => { const a = document.activeElement; return a === null ? "" : a.id !== "" ? "#" + a.id : (a.getAttribute("href") ?? a.tagName) })()'))
    if (reached.at(-1) === '#account-email') break
  }
  t.equal(reached.at(-1), '#account-email', `Tab reaches sign-in first: ${reached.join(' → ')}`)
  t.notOk(reached.some((r) => r.startsWith('#/events/')), 'passing no sale link on the way')
  await signUp(page, `cancel-${env.id}@example.com`)
  await page.goto(`${http.base}/#/events/${eventId}`)
  await page.waitForSelector('h1:has-text("Flash drop")')
  t.equal(await page.locator('h1').count(), 1, 'one h1 on the sale page')
  await page.waitForSelector('#buy:not([disabled])')
  await page.click('#buy')
  const orderId = await orderOf(page)
  t.equal(await page.getAttribute('#ticket', 'aria-live'), null, 'the ticket box is not a live region (it is rewritten every poll)')

  // The focus ring on Pay is plain to see.
  await page.focus('button[data-action="pay"]')
  await page.keyboard.press('Shift+Tab')
  await page.keyboard.press('Tab')
  const ring = await page.evaluate<{ width: number, style: string }>('(() => { const s = getComputedStyle(document.activeElement); return { width: parseFloat(s.outlineWidth), style: s.outlineStyle } })()')
  t.ok(ring.width >= 2 && ring.style !== 'none', `a focus ring of ${ring.width}px ${ring.style} on Pay`)

  // Item 3: Cancel asks first; keeping the order changes nothing.
  await page.click('button[data-action="cancel"]')
  await page.waitForSelector('#cancel-dialog[open]')
  t.match(await page.textContent('#cancel-dialog') ?? '', /cannot be undone/, 'the question says what it costs')
  t.match(await page.textContent('#cancel-dialog') ?? '', /one buy per sale/, 'including that there is no buying again')
  await page.click('#keep-order')
  await page.waitForSelector('#cancel-dialog', { state: 'detached' })
  t.equal(await page.evaluate('document.activeElement?.getAttribute("data-action")'), 'cancel', 'the focus goes back to Cancel')
  t.equal((await env.db('orders').where({ id: orderId }).first() as { status: string }).status, 'pending_payment', 'kept: still awaiting payment')
  await page.click('button[data-action="cancel"]')
  await page.click('#confirm-cancel')
  await page.waitForSelector('#ticket-status:has-text("Order cancelled")')
  t.equal((await env.db('orders').where({ id: orderId }).first() as { status: string }).status, 'cancelled', 'confirmed: cancelled')
  t.not(await page.evaluate('document.activeElement?.tagName'), 'BODY', 'the focus is not dropped to the page')
  await page.waitForSelector('#buy-why:has-text("You cancelled your order")')
  t.ok(await page.isDisabled('#buy'), 'Buy is off, and the page says why')
  await page.reload()
  await page.waitForSelector('#buy-why:has-text("cannot buy here again")')
  t.pass('and still after a reload')

  // Operator page: after signing in the focus is on the page's heading, not dropped.
  const ops = await (await browser.newContext()).newPage()
  await ops.goto(`${http.base}/ops`)
  t.equal(await ops.locator('h1').count(), 1, 'the operator page has an h1')
  await ops.getByLabel('Email').fill(admin.ADMIN_EMAIL)
  await ops.getByLabel('Password').fill(admin.ADMIN_PASSWORD)
  await ops.getByLabel('Password').press('Enter')
  await ops.waitForSelector('#signed-in')
  t.equal(await ops.evaluate('document.activeElement?.tagName'), 'H1', 'after signing in, the focus is on the operator page\'s heading')
})

t.test('items 2, 9, 10: a full line says the rule; the live region speaks on change only; no error under the banner; no Buy beside "in line"', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  const env = await testEnv(t)
  // No worker: the buyers stay in line.
  const ingress = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  const { http } = ingress
  const eventId = await createSale(http, env, { stock: 2 })
  const browser = await launchBrowser(env)

  // One buyer in line from the page.
  const context = await browser.newContext()
  await context.addInitScript(BUY_WATCH)
  const page = await context.newPage()
  await page.goto(`${http.base}/#/events/${eventId}`)
  await signUp(page, `line-${env.id}@example.com`)
  await page.waitForSelector('#buy:not([disabled])')
  await page.click('#buy')
  await page.waitForSelector('#ticket-status:has-text("You are in line")')
  // Item 9: the live region said "in line" once; while the line stands still through several
  // polls (until the page calls it paused) it says nothing more.
  const said = await page.textContent('#announce')
  t.match(said ?? '', /You are in line/, 'the live region said the change')
  await page.evaluate(`window.__announced = 0
    new MutationObserver(() => { window.__announced++ }).observe(document.getElementById('announce'), { subtree: true, childList: true, characterData: true })`)
  await page.waitForSelector('#eta:has-text("The line is paused")')
  t.equal(await page.evaluate('window.__announced'), 0, 'nothing re-read while nothing changed')
  t.match(await page.textContent('#ticket') ?? '', /Reloading or closing this page is safe/, 'the page says reloading is safe')
  t.match(await page.textContent('#ahead') ?? '', /You are next/, 'and how many are ahead')

  // Item 10: a reload never offers Buy beside "You are in line".
  await page.reload()
  await page.waitForSelector('#ticket-status:has-text("You are in line")')
  t.equal(await page.evaluate('window.__buyOfferedInLine'), false, 'Buy was never enabled while the ticket was being looked up or in line')

  // Item 2: two more buyers fill the line (gate: 1.1 × 2 units); the next is turned away while
  // both units still show as not sold: the page says what the rule is.
  for (const user of [900_001, 900_002]) {
    const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })
    t.equal(r.status, 202, `buyer ${user} queued`)
  }
  const late = await (await browser.newContext()).newPage()
  await late.goto(`${http.base}/#/events/${eventId}`)
  await signUp(late, `late-${env.id}@example.com`)
  await late.waitForSelector('#buy:not([disabled])')
  await late.click('#buy')
  await late.waitForSelector('#ticket-status:has-text("Sold out")')
  const event = (await http.request('GET', `/api/v1/events/${eventId}`)).body.data as { remaining: number }
  t.equal(event.remaining, 2, 'both units are still unsold')
  t.match(await late.textContent('#ticket-text') ?? '', /holds a buyer for every unit not sold yet \(2\)/, 'the rule: the line holds a buyer for each unit left')
  t.match(await late.textContent('#stock') ?? '', /2 of 2 not sold yet, all promised to buyers in line/, 'units left read as promised, not free')
  t.equal(await late.textContent('#countdown'), 'Sold out', 'not "On sale now" beside "Sold out"')

  // Item 10: the server goes away: the banner says so, and no red error sits under it. Two failed
  // polls of the ticket: the page has handled the first one (and retried) by the second.
  let failures = 0
  const twice = new Promise<void>((resolve) => {
    page.on('requestfailed', (r) => { if (r.url().includes('/api/v1/tickets/') && ++failures === 2) resolve() })
  })
  await ingress.service.stop()
  await page.waitForSelector('#connection:has-text("cannot be reached")')
  await twice
  t.equal(await page.textContent('.sale .message'), '', 'no "check the connection" message under the banner')
})
