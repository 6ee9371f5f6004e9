/**
 * Issue 32, operator controls: "edit before the start", on the operator page in Chromium. The
 * operator (in Shanghai's time zone) changes a sale's title, description, price and start; the
 * start typed in their own time zone reaches MySQL as the same absolute time, a double click
 * changes it once, and a buyer (in UTC) sees the new title, description (as text) and start after
 * a reload. Too late -- started, or a
 * randomized start whose entries have opened -- the page says so, and nothing changes.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Page } from 'playwright-core'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import type { Http } from '../helpers/sale'
import { CHROMIUM, launchBrowser } from '../helpers/browser'

const CREDS = { ADMIN_EMAIL: 'ops@example.com', ADMIN_PASSWORD: 'operator password 1' }

/**
 * A moment as a datetime-local value in Shanghai (UTC+8 all year), to the second, as Chromium
 * writes it (whole minutes without the seconds).
 */
const shanghai = (ms: number): string => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 19).replace(/:00$/, '')

/** The buyer page's `when()` in English and UTC, spaces made plain. */
const inUtc = (ms: number): string => plain(new Intl.DateTimeFormat('en', { weekday: 'short', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short', timeZone: 'UTC' }).format(new Date(ms)))
const plain = (s: string): string => s.replace(/\s/g, ' ')

async function signInOps (page: Page, http: Http, id: number): Promise<void> {
  await page.goto(`${http.base}/ops#${id}`)
  await page.getByLabel('Email').fill(CREDS.ADMIN_EMAIL)
  await page.getByLabel('Password').fill(CREDS.ADMIN_PASSWORD)
  await page.click('#sign-in')
}

async function eventRow (env: TestEnv, id: number): Promise<{ title: string, description: string | null, price_cents: number, start_at: Date, end_at: Date, updated_at: Date }> {
  return await env.db('seckill_events').first('title', 'description', 'price_cents', 'start_at', 'end_at', 'updated_at').where({ id })
}

t.test('the operator changes a sale before its start, in their time zone; the buyer sees it after a reload', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  const env = await testEnv(t, CREDS)
  const { http } = await startTestService(env, loadConfig({ ...env.env, ...CREDS, PROCESS_ROLE: 'ingress' }))
  const id = await createSale(http, env, { stock: 5, startInMs: 20 * 60_000 })
  const browser = await launchBrowser(env)
  const ops = await (await browser.newContext({ viewport: { width: 1280, height: 1000 }, locale: 'en-US', timezoneId: 'Asia/Shanghai' })).newPage()
  const buyer = await (await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-US', timezoneId: 'UTC' })).newPage()

  await buyer.goto(`${http.base}/#/events/${id}`)
  await buyer.waitForSelector('h1:text-is("Flash drop")')

  const before = await eventRow(env, id)
  await signInOps(ops, http, id)
  await until(async () => await ops.inputValue('#edit-title', { timeout: 1000 }).catch(() => '') === 'Flash drop', 20_000, 'the edit form filled in')
  t.equal(await ops.inputValue('#edit-start'), shanghai(before.start_at.getTime()), 'the start is offered in the operator\'s time zone')
  t.match(await ops.textContent('#edit-zone') ?? '', /Asia\/Shanghai/, 'which the form names')

  // 45 minutes later, typed as Shanghai's wall clock; the end is left as it was.
  const whole = Math.floor(before.start_at.getTime() / 1000) * 1000 + 45 * 60_000
  // Seconds in it, so the value typed carries them.
  const start = whole % 60_000 === 0 ? whole + 7000 : whole
  await ops.fill('#edit-title', 'Midnight drop')
  await ops.fill('#edit-description', 'Only at midnight: <b>one</b> pair each.')
  await ops.fill('#edit-price', '123.45')
  await ops.fill('#edit-start', shanghai(start))
  await ops.dblclick('#edit-save')
  await ops.waitForSelector('#edit-said:has-text("Saved")')
  const after = await eventRow(env, id)
  t.same([after.title, after.description, after.price_cents, after.start_at.getTime(), after.end_at.getTime()], ['Midnight drop', 'Only at midnight: <b>one</b> pair each.', 12_345, start, before.end_at.getTime()],
    'MySQL has the new title, description, price and the same absolute start; the end is untouched')
  // A second request of the double click would have landed by now.
  await sleep(1000)
  const audit = await http.request('GET', `/api/v1/admin/audit?target_type=event&target_id=${id}&action=event.update`, { token: env.token(1, 'admin') })
  t.equal(audit.body.data.items.length, 1, 'a double click changed the sale once (one audited change)')

  await buyer.reload()
  await buyer.waitForSelector('h1:text-is("Midnight drop")')
  t.match(plain(await buyer.textContent('#window') ?? ''), inUtc(start), 'the buyer page shows the new start, in the buyer\'s time zone')
  t.match(await buyer.textContent('#price') ?? '', /123\.45/, 'and the new price')
  t.equal(await buyer.textContent('#description'), 'Only at midnight: <b>one</b> pair each.', 'and the description, as text')
  t.equal(await buyer.locator('#description b').count(), 0, 'its markup made no element')
})

t.test('too late to change: a started sale says so, and a refused change is said on the page and changes nothing', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  const env = await testEnv(t, CREDS)
  const { http } = await startTestService(env, loadConfig({ ...env.env, ...CREDS, PROCESS_ROLE: 'ingress' }))
  const started = await createSale(http, env, { stock: 5 })
  // A randomized start takes entries from its lead window on: its edits stop before the window
  // opens (already open here), while the sale still reads upcoming for 40 s.
  const drawn = await createSale(http, env, { stock: 5, startInMs: 40_000, fields: { entry: 'random_at_start', lead_ms: 38_000 } })
  const browser = await launchBrowser(env)
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 }, locale: 'en-US', timezoneId: 'UTC' })
  const ops = await context.newPage()

  await signInOps(ops, http, started)
  // Folded for a started sale: opened by its heading.
  await ops.click('#edit > summary')
  await ops.waitForSelector('#edit-started:has-text("This sale has started: a sale can only be changed before its start.")')
  t.ok(await ops.isDisabled('#edit-save'), 'Save is off for a started sale')
  t.ok(await ops.isDisabled('#edit-title'), 'and so are the fields')

  // Signed in already (the session is kept): the randomized start in another tab.
  const tab = await context.newPage()
  await tab.goto(`${http.base}/ops#${drawn}`)
  await until(async () => await tab.inputValue('#edit-title', { timeout: 1000 }).catch(() => '') === 'Flash drop', 20_000, 'the edit form filled in')
  const before = await eventRow(env, drawn)
  await tab.fill('#edit-title', 'Renamed too late')
  await tab.click('#edit-save')
  await tab.waitForSelector('#edit-message:has-text("Not changed: the sale has started, starts within seconds, or has opened its entries.")')
  t.pass('the refusal is said on the page, in words')
  t.equal(await tab.inputValue('#edit-title'), 'Renamed too late', 'what the operator typed is kept')
  t.same(await eventRow(env, drawn), before, 'and nothing changed in MySQL')
})
