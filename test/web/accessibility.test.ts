/**
 * Issue 32's acceptance: axe-core over every view -- the buyer signed out, waiting in line, won,
 * expired and paid, the organiser's message in line; the operator watching a live sale, the audit
 * trail, and changing a sale before its start with the message box -- on a phone (390 px)
 * and a desktop (1280 px): no violation. Each view is also photographed; `npm run pages:shots`
 * runs this with PAGE_SHOTS=docs/pages to regenerate the committed screenshots.
 */
import t from 'tap'
import { existsSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Page } from 'playwright-core'
import { loadConfig } from '../../src/config'
import { repoPath } from '../../src/util/paths'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import { CHROMIUM, launchBrowser, signUp } from '../helpers/browser'
import { axeViolations, describeViolations } from '../helpers/axe'

const WIDTHS = [{ width: 390, height: 844 }, { width: 1280, height: 900 }] as const
const SHOTS = process.env.PAGE_SHOTS === undefined ? join(tmpdir(), 'seckill-pages') : repoPath(process.env.PAGE_SHOTS)

t.test('every view passes axe on a phone and a desktop, and is photographed', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  mkdirSync(SHOTS, { recursive: true })
  const creds = { ADMIN_EMAIL: 'ops@example.com', ADMIN_PASSWORD: 'operator password 1' }
  // Orders lapse 25 s after they are won: the expired view comes within the test.
  const env = await testEnv(t, { ...creds, PAYMENT_TIMEOUT_MS: '25000' })
  const { http } = await startTestService(env, loadConfig({ ...env.env, ...creds, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(http, env, { stock: 2 })
  const browser = await launchBrowser(env)
  const context = await browser.newContext({ bypassCSP: true, locale: 'en-US', timezoneId: 'UTC' })

  /** Axe at both widths, and a photograph of each. */
  const check = async (page: Page, view: string, element?: string): Promise<void> => {
    for (const size of WIDTHS) {
      await page.setViewportSize(size)
      const path = join(SHOTS, `${view}-${size.width}.png`)
      if (element === undefined) await page.screenshot({ path, fullPage: true })
      else await page.locator(element).screenshot({ path })
      const violations = await axeViolations(page)
      t.same(violations.map((v) => v.id), [], `${view} at ${size.width} px: ${violations.length === 0 ? 'no violation' : describeViolations(violations)}`)
    }
  }

  const buyer = await context.newPage()
  await buyer.goto(`${http.base}/`)
  await buyer.waitForSelector('ul.sales a')
  await check(buyer, 'buyer-signed-out')

  await buyer.goto(`${http.base}/#/events/${eventId}`)
  await signUp(buyer, `views-${env.id}@example.com`)
  await buyer.waitForSelector('#buy:not([disabled])')
  await buyer.click('#buy')
  await buyer.waitForSelector('#eta:has-text("The line is paused")')
  // The organiser's message to everyone in line, shown in the waiting view.
  const note = await http.request('POST', `/api/v1/admin/events/${eventId}/message`, { token: env.token(1, 'admin'), body: { text: 'Thank you for waiting: every buyer in line gets an answer.' } })
  t.equal(note.status, 200, 'a message to the line')
  await buyer.waitForSelector('#line-message-text')
  await check(buyer, 'buyer-waiting')

  // A worker drains: the buyer wins, with the reservation timer.
  await startTestService(env, loadConfig({ ...env.env, ...creds, PROCESS_ROLE: 'worker', METRICS_PORT: '0' }))
  await buyer.waitForSelector('.timer:has-text("Time left to pay")', { timeout: 60_000 })
  await check(buyer, 'buyer-won')

  // Paid, through the local provider, with the receipt.
  await buyer.click('button[data-action="pay"]')
  await buyer.waitForSelector('#approve')
  await buyer.click('#approve')
  await buyer.waitForSelector('.receipt', { timeout: 30_000 })
  await check(buyer, 'buyer-paid')

  // A second buyer wins and lets the deadline pass.
  // Another browser (its own storage): a second buyer.
  const late = await (await browser.newContext({ bypassCSP: true, locale: 'en-US', timezoneId: 'UTC' })).newPage()
  await late.goto(`${http.base}/#/events/${eventId}`)
  await signUp(late, `views-late-${env.id}@example.com`)
  await late.waitForSelector('#buy:not([disabled])')
  await late.click('#buy')
  await late.waitForSelector('.order-status:has-text("expired")', { timeout: 60_000 })
  await check(late, 'buyer-expired')

  // The operator watches the sale, with the audit trail below.
  const ops = await (await browser.newContext({ bypassCSP: true, locale: 'en-US', timezoneId: 'UTC' })).newPage()
  await ops.goto(`${http.base}/ops#${eventId}`)
  await ops.getByLabel('Email').fill(creds.ADMIN_EMAIL)
  await ops.getByLabel('Password').fill(creds.ADMIN_PASSWORD)
  await ops.click('#sign-in')
  await ops.waitForSelector('dd[data-stat="paid"]:text-is("1")')
  await until(async () => await ops.locator('#audit tbody tr').count() > 0, 10_000, 'the audit trail')
  await check(ops, 'operator-live')
  await check(ops, 'operator-audit', '#audit')

  // A sale not started yet: its edit form, filled in, beside the message box.
  const upcoming = await createSale(http, env, { stock: 5, startInMs: 3_600_000 })
  const edit = await ops.context().newPage()
  await edit.goto(`${http.base}/ops#${upcoming}`)
  await until(async () => await edit.inputValue('#edit-title', { timeout: 1000 }).catch(() => '') === 'Flash drop', 20_000, 'the edit form filled in')
  await edit.click('#message > summary')
  await edit.waitForSelector('#message-text')
  await check(edit, 'operator-edit', '#controls-slot')
})
