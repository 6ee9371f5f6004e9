/**
 * Issue 34, proof of work on the buyer page, in Chromium under the pages' policy (script-src
 * 'self', no inline; a violation fails the test): the page solves its challenge in a Web Worker
 * while the buyer waits for the start, shows it, opens Buy at the start and buys; a proof the
 * service refuses is solved again and the buy sent once more, by itself.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import type { Page } from 'playwright-core'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, startTestService } from '../helpers/sale'
import { CHROMIUM, launchBrowser, signUp } from '../helpers/browser'

/** Records the page's policy violations (console and the securitypolicyviolation event). */
async function watchPolicy (page: Page): Promise<string[]> {
  const violations: string[] = []
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()) })
  await page.addInitScript({ content: 'document.addEventListener("securitypolicyviolation", (e) => console.error("Content Security Policy violation: " + e.violatedDirective + " " + e.blockedURI))' })
  return violations
}

async function spentProofs (env: TestEnv, eventId: number): Promise<number> {
  return (await env.redis.keys(`${env.keys.shard({ eventId, shard: 0 }).proofs}*`)).length
}

t.test('the page solves while the buyer waits, opens Buy at the start and buys, under the policy', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const browser = await launchBrowser(env)
  const page = await (await browser.newContext()).newPage()
  const violations = await watchPolicy(page)
  // Signed up first (scrypt: slow on a busy machine), then the sale, starting after the solve.
  await page.goto(`${http.base}/`)
  await signUp(page, `pow-${env.id}@example.com`)
  const eventId = await createSale(http, env, { stock: 3, startInMs: 20_000, fields: { pow_max_number: 100_000 } })
  const startAt = Date.parse((await http.request('GET', `/api/v1/events/${eventId}`)).body.data.start_at)
  await page.goto(`${http.base}/#/events/${eventId}`)

  const signedIn = Date.now()
  await page.waitForSelector('#pow-status:has-text("Check done")', { timeout: 30_000 })
  t.comment(`solved ${Date.now() - signedIn} ms after opening the sale, ${startAt - Date.now()} ms before the start`)
  t.ok(Date.now() < startAt - 1000, 'solved while the buyer waits for the start')
  t.equal(await page.getAttribute('#pow-progress', 'value'), '1', 'the progress bar is full')
  t.equal(await page.getAttribute('#pow-progress', 'aria-label'), 'Your device\'s check against bots', 'and names what it measures')
  t.match(await page.textContent('#announce') ?? '', /Check done/, 'the live region says it once')
  t.ok(await page.isDisabled('#buy'), 'before the start Buy stays off')
  t.match(await page.textContent('#buy-why') ?? '', /when the countdown ends/, 'and says why')

  await page.waitForSelector('#buy:not([disabled])', { timeout: 60_000 })
  t.ok(Date.now() >= startAt - 1000, 'Buy opens at the start')
  await page.click('#buy')
  await page.waitForSelector('#ticket-status:has-text("You are in line"), #ticket-status:has-text("You won!")', { timeout: 30_000 })
  t.pass('the buy went through with the page\'s proof')
  t.equal(await spentProofs(env, eventId), 1, 'one proof spent')
  t.ok(await page.isHidden('#pow'), 'the check is not shown once the buyer holds a ticket')
  t.same(violations, [], 'no policy violation')
})

t.test('a proof the service refuses: the page solves again and sends the buy once more', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 3, fields: { pow_max_number: 20_000 } })
  const browser = await launchBrowser(env)
  const page = await (await browser.newContext()).newPage()
  const violations = await watchPolicy(page)
  let challenges = 0
  page.on('request', (r) => { if (r.url().endsWith(`/events/${eventId}/challenge`)) challenges++ })
  // The first buy's proof is damaged on its way (its counter changed): the service refuses it.
  const refused: number[] = []
  await page.route(`**/api/v1/events/${eventId}/buy`, async (route) => {
    const headers = route.request().headers()
    if (refused.length === 0) {
      const payload = JSON.parse(Buffer.from(headers['x-proof-of-work'] ?? '', 'base64').toString('utf8')) as { solution: { counter: number } }
      payload.solution.counter += 1
      const answer = await route.fetch({ headers: { ...headers, 'x-proof-of-work': Buffer.from(JSON.stringify(payload)).toString('base64') } })
      refused.push(answer.status())
      await route.fulfill({ response: answer })
      return
    }
    await route.continue()
  })
  await page.goto(`${http.base}/#/events/${eventId}`)
  await signUp(page, `pow-redo-${env.id}@example.com`)
  await page.waitForSelector('#buy:not([disabled])', { timeout: 30_000 })
  await page.click('#buy')
  await page.waitForSelector('#ticket-status:has-text("You are in line"), #ticket-status:has-text("You won!")', { timeout: 30_000 })
  t.same(refused, [403], 'the damaged proof was refused (403)')
  t.ok(challenges >= 2, `the page fetched a new challenge (${challenges} in all)`)
  t.equal(await spentProofs(env, eventId), 1, 'and its new proof bought the ticket')
  t.same(violations, [], 'no policy violation')
})
