/**
 * A draw (mode draw) in a real browser: four buyers enter on the sale's page before the close
 * ("You are in the draw. The draw is at ..."); at the close two pages say they won and two say
 * they are runners-up, with places 1 and 2 in the order GET /draw publishes; a buyer who comes
 * after the close finds entries closed. Waits for states only.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import type { Page } from 'playwright-core'
import { createHmac } from 'node:crypto'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { startTestService, until } from '../helpers/sale'
import { CHROMIUM, launchBrowser, signUp } from '../helpers/browser'

const BUYERS = 4
const UNITS = 2

function recompute (seed: string, entries: readonly string[]): string[] {
  const key = (id: string): string => createHmac('sha256', Buffer.from(seed, 'hex')).update(id).digest('hex')
  return entries.map((id) => [key(id), id] as const).sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1).map(([, id]) => id)
}

t.test('four buyers enter a draw; at the close two pages say won, two say runner-up in drawn order; a late buyer finds entries closed', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  const env = await testEnv(t, { RATE_LIMIT_REGISTER: '100' })
  const { http } = await startTestService(env, loadConfig({ ...env.env }))
  const admin = env.token(1, 'admin')
  const product = await http.request('POST', '/api/v1/admin/products', { token: admin, body: { title: 'Sneaker', price_cents: 9900 } })
  const browser = await launchBrowser(env)
  const pages: Page[] = []
  for (let i = 0; i <= BUYERS; i++) {
    const page = await (await browser.newContext()).newPage()
    await page.goto(`${http.base}/#/`)
    await signUp(page, `draw-sale-${i}-${env.id}@example.com`)
    pages.push(page)
  }
  const late = pages.pop() as Page

  const close = Date.now() + 20_000
  const created = await http.request('POST', '/api/v1/admin/events', {
    token: admin,
    body: { product_id: product.body.data.id, title: 'Drawn drop', price_cents: 9900, stock: UNITS, mode: 'draw', start_at: new Date(close).toISOString(), end_at: new Date(close + 3_600_000).toISOString() }
  })
  t.equal(created.status, 201, 'a draw')
  const eventId = created.body.data.id as number
  await Promise.all(pages.map(async (page) => {
    await page.goto(`${http.base}/#/events/${eventId}`)
    await page.waitForSelector('#buy:not([disabled]):has-text("Enter the draw")')
  }))
  t.match(await pages[0]?.textContent('#stock') ?? '', /A draw: .* 2 winners are drawn at random/, 'the page says what the rule is')

  const entries: string[] = []
  for (const page of pages) {
    await page.click('#buy')
    await page.waitForSelector('#ticket-status:has-text("You are in the draw. The draw is at")')
    entries.push(/entry: ([0-9a-f]{32})/.exec(await page.textContent('#entry-id') ?? '')?.[1] ?? '')
  }
  t.ok(entries.every((e) => e.length === 32), 'each page shows its entry id')
  t.ok(Date.now() < close, 'all four entered before the close')

  const results = await Promise.all(pages.map(async (page) => {
    await page.waitForSelector('#ticket-status:has-text("You won the draw"), #ticket-status:has-text("runner-up")', { timeout: 60_000 })
    return await page.textContent('#ticket') ?? ''
  }))
  await until(async () => (await http.request('GET', `/api/v1/events/${eventId}/draw`)).body.data.seed !== null, 30_000, 'the draw to be published')
  const pub = (await http.request('GET', `/api/v1/events/${eventId}/draw`)).body.data as { seed: string, entries: string[], winners: string[] }
  const order = recompute(pub.seed, pub.entries)
  t.same(pub.winners, order.slice(0, UNITS), 'the published winners are the draw\'s')
  t.same([...pub.entries].sort(), [...entries].sort(), 'every page\'s entry is in the published list')
  entries.forEach((entry, i) => {
    const rank = order.indexOf(entry) + 1
    const said = results[i] ?? ''
    if (rank <= UNITS) t.match(said, /You won the draw/, `buyer ${i}, drawn ${rank}: won`)
    else t.match(said, rank === UNITS + 1 ? /runner-up.*You are the first runner-up/s : /runner-up.*Runner-up place 2/s, `buyer ${i}, drawn ${rank}: runner-up ${rank - UNITS}`)
  })

  await late.goto(`${http.base}/#/events/${eventId}`)
  await late.waitForSelector('#buy-why:has-text("Entries for this draw are closed")')
  t.ok(await late.isDisabled('#buy'), 'after the close a buyer with no entry cannot enter')
})
