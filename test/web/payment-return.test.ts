/**
 * Issue 33, the buyer's side of a payment, in Chromium: Pay sends the buyer to the local
 * provider's page; back from it, a payment approved in time reads as received, and one approved
 * after the order expired reads as late and refunded (the service refunds it by itself).
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import type { Page } from 'playwright-core'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import { CHROMIUM, launchBrowser, signUp } from '../helpers/browser'
import { orderStatus, paymentRow } from '../helpers/payments'

t.test('back from the provider: paid in time reads received; paid after expiry reads late and refunded', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  const env = await testEnv(t, { PAYMENT_TIMEOUT_MS: '600000' })
  const { http } = await startTestService(env, loadConfig({ ...env.env }))
  const eventId = await createSale(http, env, { stock: 2 })
  const browser = await launchBrowser(env)
  /** A buyer who signs up, wins, presses Pay and is left on the provider's page. */
  const atProvider = async (name: string): Promise<{ page: Page, order: string }> => {
    const page = await (await browser.newContext()).newPage()
    await page.goto(`${http.base}/#/events/${eventId}`)
    await signUp(page, `${name}-${env.id}@example.com`)
    await page.waitForSelector('#buy:not([disabled])')
    await page.click('#buy')
    await page.waitForSelector('.order[data-order] button[data-action="pay"]')
    const order = await page.getAttribute('.order[data-order]', 'data-order') as string
    await page.click('button[data-action="pay"]')
    await page.waitForURL(/\/pay\/local\/lpi_[0-9a-f]{24}$/)
    return { page, order }
  }

  const onTime = await atProvider('on-time')
  await onTime.page.getByRole('button', { name: 'Approve' }).click()
  await onTime.page.waitForSelector('#payment-result.notice')
  t.equal(await onTime.page.textContent('#payment-result'), 'Payment received. Thank you!')
  t.equal(await orderStatus(env, onTime.order), 'paid')

  const late = await atProvider('late')
  await env.db('orders').where({ id: late.order }).update({ expires_at: env.db.raw('NOW(3) - INTERVAL 1 SECOND') })
  await until(async () => await orderStatus(env, late.order) === 'expired', 10_000, 'the expiry loop')
  await late.page.getByRole('button', { name: 'Approve' }).click()
  await late.page.waitForSelector('#payment-result.notice')
  t.match(await late.page.textContent('#payment-result'), /^Your payment arrived after the order was expired, so it (has been|is being) refunded in full\.$/, 'the page says it came late and goes back')
  await until(async () => (await paymentRow(env, late.order)).status === 'refunded', 10_000, 'the refund')
  t.equal(await orderStatus(env, late.order), 'expired', 'the late order is never paid')
})
