/**
 * Issue 32, operator controls: "a message to everyone in line", in Chromium. A buyer is in line
 * (no worker, so the line stands); the operator sends a message from the operator page; the
 * buyer's page shows it with its time without a reload, as text: markup in it stays text and
 * never runs. A new message replaces it; removing it removes it from the buyer's page.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { createSale, startTestService } from '../helpers/sale'
import { CHROMIUM, launchBrowser, signUp } from '../helpers/browser'

const CREDS = { ADMIN_EMAIL: 'ops@example.com', ADMIN_PASSWORD: 'operator password 1' }
/** A time of day as the pages write it in English and UTC ("02:35:12 PM UTC"). */
const CLOCK = /\d{2}:\d{2}:\d{2}(\s[AP]M)?\sUTC/
/** The time of day in a text, or "(no time)" so a comparison with it fails and shows the text. */
const TIME_OF = (text: string): string => CLOCK.exec(text)?.[0] ?? '(no time)'

t.test('the operator\'s message reaches a buyer already in line, without a reload, as text', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  const env = await testEnv(t, CREDS)
  const { http } = await startTestService(env, loadConfig({ ...env.env, ...CREDS, PROCESS_ROLE: 'ingress' }))
  const id = await createSale(http, env, { stock: 2 })
  const browser = await launchBrowser(env)
  const buyer = await (await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-US', timezoneId: 'UTC' })).newPage()
  const ops = await (await browser.newContext({ viewport: { width: 1280, height: 1000 }, locale: 'en-US', timezoneId: 'UTC' })).newPage()

  await buyer.goto(`${http.base}/#/events/${id}`)
  await signUp(buyer, `line-${env.id}@example.com`)
  await buyer.waitForSelector('#buy:not([disabled])')
  await buyer.click('#buy')
  await buyer.waitForSelector('#ticket-status:has-text("You are in line")')
  // Set on this very page: still there afterwards means the page was not reloaded.
  await buyer.evaluate('window.sameLoad = true')
  t.equal(await buyer.locator('#line-message-text').count(), 0, 'no message at first')

  await ops.goto(`${http.base}/ops#${id}`)
  await ops.getByLabel('Email').fill(CREDS.ADMIN_EMAIL)
  await ops.getByLabel('Password').fill(CREDS.ADMIN_PASSWORD)
  await ops.click('#sign-in')
  // Folded while no message is shown: opened by its heading.
  await ops.click('#message > summary')
  await ops.waitForSelector('#message-now:has-text("No message is shown to buyers.")')
  await ops.click('#message-send')
  await ops.waitForSelector('#message-error:has-text("Write a message first")')
  t.pass('an empty message is refused on the page')

  const payload = '<img src=x onerror="window.ran=1"><script>window.ran=2</script><b>Doors</b> close at 21:00 — 门 21:00 关闭'
  await ops.fill('#message-text', `  ${payload}  `)
  await ops.click('#message-send')
  await ops.waitForSelector('#message-said:has-text("Sent at")')
  t.equal(await ops.textContent('#message-now') ?? '', `Shown since ${TIME_OF(await ops.textContent('#message-now') ?? '')}: “${payload}”`, 'the operator page says what is shown (trimmed, as text) and since when')

  await buyer.waitForSelector('#line-message-text', { timeout: 10_000 })
  t.equal(await buyer.textContent('#line-message-text'), payload, 'the buyer in line sees the message, as text')
  t.match(await buyer.textContent('#line-message-from') ?? '', new RegExp(`^Message from the organiser, ${CLOCK.source}:$`), 'with its time')
  t.equal(await buyer.locator('#line-message img, #line-message script, #line-message b').count(), 0, 'its markup made no element')
  t.equal(await buyer.evaluate('window.ran'), undefined, 'and ran nothing')
  t.equal(await buyer.evaluate('window.sameLoad'), true, 'without a reload')
  t.match(await buyer.textContent('#ticket-status') ?? '', 'You are in line', 'still in line')

  // A new message replaces it; removing it removes it.
  await ops.fill('#message-text', 'Thank you for waiting: the line moves again at 21:05.')
  await ops.click('#message-send')
  await buyer.waitForSelector('#line-message-text:text-is("Thank you for waiting: the line moves again at 21:05.")', { timeout: 10_000 })
  t.pass('a new message replaces the old one')
  await ops.click('#message-clear')
  await ops.waitForSelector('#message-said:has-text("Removed")')
  await buyer.waitForSelector('#line-message-text', { state: 'detached', timeout: 10_000 })
  t.pass('removed: the buyer\'s page no longer shows it')
  t.equal(await buyer.evaluate('window.sameLoad'), true, 'all without a reload')

  await ops.waitForSelector('#audit tr[data-action="event.message"]')
  const audit = await http.request('GET', `/api/v1/admin/audit?target_type=event&target_id=${id}&action=event.message`, { token: env.token(1, 'admin') })
  t.same((audit.body.data.items as Array<{ outcome: string }>).map((a) => a.outcome), ['done', 'done', 'done'], 'each message and the removal are in the audit trail')
})
