/**
 * Issue 34's acceptance for the randomized start, in a real browser: six buyers on pages opened
 * before the start get in during the lead window ("You are in. Your place will be drawn at the
 * start"), then each page shows the place drawn at the start; the places are a permutation that
 * the published seed recomputes, and across three sales they are not all the arrival order (for
 * one sale that happens with probability 1/720, for three 1/720^3). Waits for states only.
 */
import t from 'tap'
import { createHmac } from 'node:crypto'
import { existsSync } from 'node:fs'
import type { Page } from 'playwright-core'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { startTestService, until } from '../helpers/sale'
import { CHROMIUM, launchBrowser, signUp } from '../helpers/browser'

const BUYERS = 6
const RUNS = 3

function recompute (seed: string, entries: readonly string[]): string[] {
  const key = (id: string): string => createHmac('sha256', Buffer.from(seed, 'hex')).update(id).digest('hex')
  return entries.map((id) => [key(id), id] as const).sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1).map(([, id]) => id)
}

t.test('six buyers in before a randomized start get drawn places, not their arrival order, as the published seed says', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  // Six accounts signed up from one address.
  const env = await testEnv(t, { RATE_LIMIT_REGISTER: '100' })
  const { http } = await startTestService(env, loadConfig({ ...env.env }))
  const admin = env.token(1, 'admin')
  const product = await http.request('POST', '/api/v1/admin/products', { token: admin, body: { title: 'Sneaker', price_cents: 9900 } })
  const browser = await launchBrowser(env)
  const pages: Page[] = []
  for (let i = 0; i < BUYERS; i++) {
    const page = await (await browser.newContext()).newPage()
    await page.goto(`${http.base}/#/`)
    await signUp(page, `draw-${i}-${env.id}@example.com`)
    pages.push(page)
  }

  const arrivalOrderRuns: boolean[] = []
  for (let run = 0; run < RUNS; run++) {
    // Far enough ahead for six pages to get in; the lead window (10 minutes) is open at once.
    const start = Date.now() + 20_000
    const created = await http.request('POST', '/api/v1/admin/events', {
      token: admin,
      body: { product_id: product.body.data.id, title: `Drawn drop ${run}`, price_cents: 9900, stock: BUYERS, entry: 'random_at_start', start_at: new Date(start).toISOString(), end_at: new Date(start + 3_600_000).toISOString() }
    })
    t.equal(created.status, 201, `run ${run}: a randomized start`)
    const eventId = created.body.data.id as number
    const commitment = created.body.data.start_commitment as string
    await Promise.all(pages.map(async (page) => {
      await page.goto(`${http.base}/#/events/${eventId}`)
      await page.waitForSelector('#buy:not([disabled]):has-text("Get in")')
    }))
    t.match(await pages[0]?.textContent('#stock') ?? '', /drawn at random at the start/, 'the page says what the rule is')

    // They get in one after the other: that is their arrival order.
    const entries: string[] = []
    for (const page of pages) {
      await page.click('#buy')
      await page.waitForSelector('#ticket-status:has-text("You are in. Your place will be drawn at the start")')
      entries.push(/entry: ([0-9a-f]{32})/.exec(await page.textContent('#entry-id') ?? '')?.[1] ?? '')
    }
    t.ok(entries.every((e) => e.length === 32), `run ${run}: each page shows its entry id`)
    t.ok(Date.now() < start, `run ${run}: all six got in before the start`)

    // At the start each page shows its drawn place, then the usual line (or its outcome).
    const places = await Promise.all(pages.map(async (page) => {
      await page.waitForSelector('#drawn-place', { timeout: 60_000 })
      return Number(/: (\d+)/.exec(await page.textContent('#drawn-place') ?? '')?.[1])
    }))
    t.same([...places].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6], `run ${run}: every buyer has a place, each once: ${places.join(' ')}`)

    await until(async () => (await http.request('GET', `/api/v1/events/${eventId}/start-draw`)).body.data.seed !== null, 30_000, 'the seed to be revealed')
    const pub = (await http.request('GET', `/api/v1/events/${eventId}/start-draw`)).body.data as { commitment: string, seed: string, shards: Array<{ order: string[] }> }
    t.equal(pub.commitment, commitment, 'the commitment published before anyone got in')
    const order = pub.shards[0]?.order ?? []
    t.same(recompute(pub.seed, [...entries].sort()), order, `run ${run}: the published order is the seed's draw over the six entries`)
    t.same(places, entries.map((e) => order.indexOf(e) + 1), `run ${run}: each page's place is its entry's rank in that draw`)
    arrivalOrderRuns.push(places.every((p, i) => p === i + 1))
  }
  t.ok(arrivalOrderRuns.includes(false), `the drawn order is not the arrival order in every run (${arrivalOrderRuns.join(', ')})`)
})
