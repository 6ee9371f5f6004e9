/**
 * The buyer page's sign-in as a buyer lives it: an access token that expires while the page is
 * open is refreshed silently (Buy just works), a session that is truly gone shows the sign-in form
 * where the buyer is, and a wrong password reads as one. Offline shows a banner that clears
 * itself; a cancelled order is not shown under "You won!".
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import type { Page } from 'playwright-core'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import { CHROMIUM, launchBrowser, signUp } from '../helpers/browser'

interface StoredSession { access_token: string, refresh_token?: string }

async function stored (page: Page): Promise<StoredSession | undefined> {
  return await page.evaluate(() => {
    const raw = localStorage.getItem('seckill.session')
    return raw === null ? undefined : JSON.parse(raw) as { access_token: string, refresh_token?: string }
  })
}

/** Seconds since the epoch at which a JWT expires. */
function expiry (token: string): number {
  return (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as { exp: number }).exp
}

t.test('an expired access token is refreshed silently; a session that is gone shows the sign-in form; a wrong password says so', async (t) => {
  t.ok(existsSync(CHROMIUM), `Chromium at ${CHROMIUM} (apt-get install -y chromium)`)
  if (!existsSync(CHROMIUM)) return
  // Access tokens live 2 s here, so the page meets an expired one within the test.
  const env = await testEnv(t, { ACCESS_TOKEN_TTL_MS: '2000' })
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 5 })
  const browser = await launchBrowser(env)
  const page = await (await browser.newContext()).newPage()

  await page.goto(`${http.base}/#/events/${eventId}`)
  await signUp(page, `refresh-${env.id}@example.com`)
  const first = await stored(page)
  t.ok(first?.refresh_token !== undefined, 'the page keeps the refresh token')
  // Wait for the state, not a duration: the access token the page holds has expired.
  await until(async () => Date.now() / 1000 > expiry(first?.access_token ?? '') + 1, 10_000, 'the access token to expire')

  await page.waitForSelector('#buy:not([disabled])')
  await page.click('#buy')
  // The ticket may read "in line" first; the buy has gone through once the page says it won.
  await page.waitForSelector('#ticket-status:has-text("You won!")', { timeout: 20_000 })
  const second = await stored(page)
  t.not(second?.access_token, first?.access_token, 'a new access token')
  t.not(second?.refresh_token, first?.refresh_token, 'and a rotated refresh token')
  t.equal(await page.textContent('.sale .message'), '', 'no error shown')
  t.equal(await env.db('orders').where({ event_id: eventId }).count({ n: '*' }).first().then((r: any) => Number(r.n)), 1, 'the buy went through')

  // The session ends for good (its refresh token is no longer valid) while the access token is expired.
  await page.evaluate(() => {
    const s = JSON.parse(localStorage.getItem('seckill.session') ?? '{}') as Record<string, string>
    localStorage.setItem('seckill.session', JSON.stringify({ ...s, refresh_token: `${s.refresh_token ?? ''}x` }))
  })
  const third = await stored(page)
  await until(async () => Date.now() / 1000 > expiry(third?.access_token ?? '') + 1, 10_000, 'the access token to expire')
  await page.reload()
  await page.waitForSelector('#sign-in')
  t.equal(await page.locator('#signed-in').count(), 0, 'the header no longer says "Signed in as"')
  t.match(await page.textContent('.sale .message') ?? '', /session has ended/, 'the page says the session ended')
  t.equal(await stored(page), undefined, 'the dead session is forgotten')

  // A wrong password reads as a wrong password, not as an expired session.
  await page.getByLabel('Email').fill(`refresh-${env.id}@example.com`)
  await page.getByLabel('Password').fill('not the password at all')
  await page.click('#sign-in')
  await page.waitForSelector('.signin .message:has-text("Wrong email or password.")')
  // The right one signs in again, where the buyer is.
  await page.getByLabel('Password').fill('correct horse battery')
  await page.click('#sign-in')
  await page.waitForSelector('#signed-in')
  await page.waitForSelector('#ticket-status:has-text("You won!")')
  t.pass('signed in again on the sale page, the won ticket shown')

  // Offline: a banner says so, and goes by itself when the connection is back.
  await page.context().setOffline(true)
  await page.waitForSelector('#connection:has-text("You are offline")')
  await page.context().setOffline(false)
  await page.waitForSelector('#connection:empty', { state: 'attached' })
  t.pass('the offline banner came and went')

  // Cancelling the won order: the heading follows the order, no "You won!" above a cancelled order.
  await page.click('button[data-action="cancel"]')
  await page.click('#confirm-cancel')
  await page.waitForSelector('#ticket-status:has-text("Order cancelled")')
  t.match(await page.textContent('.order-status') ?? '', /cancelled/, 'the order reads cancelled')
  await page.reload()
  await page.waitForSelector('#ticket-status:has-text("Order cancelled")')
  t.pass('and still after a reload')
})
