/**
 * Issue 32, items 4, 6 and 11 on the operator page, in Chromium: a line stuck behind a batch that
 * cannot finish (the sale's row locked in MySQL, the worker alive) is warned about in words; the
 * figures: arrivals and decisions on separate charts, units promised beside units left, the oldest
 * wait, the drain rate, and the buy p99 of another ingress; the new-sale form counts the start on
 * the server's clock, reuses a product, and makes one sale however often it is clicked; and on a
 * phone the page is not one endless column.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import { CHROMIUM, launchBrowser } from '../helpers/browser'

const creds = { ADMIN_EMAIL: 'ops@example.com', ADMIN_PASSWORD: 'operator password 1' }

t.test('items 4 and 6: a stuck batch is warned about; the figures say what the line is doing, across ingresses', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  const env = await testEnv(t, creds)
  // Buys go to one ingress (with the worker); the operator page is served by another.
  const front = await startTestService(env, loadConfig({ ...env.env, ...creds }))
  const back = await startTestService(env, loadConfig({ ...env.env, ...creds, PROCESS_ROLE: 'ingress' }))
  const eventId = await createSale(front.http, env, { stock: 3 })
  const browser = await launchBrowser(env)
  const ops = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage()
  await ops.goto(`${back.http.base}/ops#${eventId}`)
  await ops.getByLabel('Email').fill(creds.ADMIN_EMAIL)
  await ops.getByLabel('Password').fill(creds.ADMIN_PASSWORD)
  await ops.click('#sign-in')
  await ops.waitForSelector('dd[data-stat="in-line"]:text-is("0")')
  t.ok(await ops.isVisible('figcaption:text-is("Buys arriving, per second")'), 'arrivals have a chart of their own')
  t.ok(await ops.isVisible('figcaption:text-is("Tickets decided by the drain, per second")'), 'and decisions another, on its own axis')

  // The sale's row is locked (as by a long transaction): the drain takes the ticket into a batch
  // that cannot write its order. The worker stays alive; the line stops.
  const trx = await env.db.transaction()
  await trx.raw('SELECT id FROM seckill_events WHERE id = ? FOR UPDATE', [eventId])
  const buy = await front.http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(600) })
  t.equal(buy.status, 202, 'a buyer joins the line')
  await ops.waitForSelector('dd[data-stat="in-line"]:text-is("1")')
  t.equal(await ops.textContent('dd[data-stat="promised"]'), '1', 'one unit is promised to the buyer in line')
  t.equal(await ops.textContent('dd[data-stat="free"]'), '2', 'two are free')
  await ops.waitForSelector('dd[data-stat="p99"]:has-text(" ms")')
  t.pass('the buy p99 counts the other ingress\'s buys')
  await ops.waitForSelector('#stuck:has-text("nothing decided")', { timeout: 40_000 })
  const warning = await ops.textContent('#stuck') ?? ''
  t.match(warning, /1 in line/, 'the warning says how many wait')
  t.match(warning, /a batch is not finishing/, 'and that a batch does not finish, with the worker alive')
  t.not(await ops.textContent('dd[data-stat="oldest-wait"]'), '—', 'the oldest wait is shown')
  t.equal(await ops.textContent('dd[data-stat="clear-in"]'), 'not moving', 'the line does not clear')

  // The lock goes: the batch finishes, the buyer wins, the warning clears itself.
  await trx.rollback()
  await until(async () => (await front.http.request('GET', `/api/v1/tickets/${buy.body.data.ticket_id}?wait=1000`, { token: env.token(600) })).body.data.status === 'won', 60_000, 'the buyer to win')
  await ops.waitForSelector('#stuck:empty', { state: 'attached' })
  await ops.waitForSelector('dd[data-stat="in-line"]:text-is("0")')
  t.pass('the warning clears once the line moves')
})

t.test('item 11: the new-sale form uses the server\'s clock, reuses a product, makes one sale per submission; the page fits a phone', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  const env = await testEnv(t, creds)
  const { http } = await startTestService(env, loadConfig({ ...env.env, ...creds }))
  const watched = await createSale(http, env, { stock: 5 })
  const browser = await launchBrowser(env)
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } })
  // The device's clock is an hour slow.
  await context.addInitScript('{ const real = Date.now; Date.now = () => real() - 3600000 }')
  const ops = await context.newPage()
  await ops.goto(`${http.base}/ops#${watched}`)
  await ops.getByLabel('Email').fill(creds.ADMIN_EMAIL)
  await ops.getByLabel('Password').fill(creds.ADMIN_PASSWORD)
  await ops.click('#sign-in')
  await ops.waitForSelector('dd[data-stat="units"]:text-is("5")')
  await ops.waitForSelector('#audit tbody tr')
  const height = await ops.evaluate<number>('document.documentElement.scrollHeight')
  t.ok(height < 3000, `on a phone the page is ${height} px tall (charts folded, figures two a row)`)

  // An existing product, chosen in the form: no new product.
  const product = await env.db('products').orderBy('id', 'desc').first('id') as { id: number }
  await ops.waitForSelector(`#product option[value="${product.id}"]`, { state: 'attached' })
  await ops.selectOption('#product', String(product.id))
  await ops.fill('#title', 'Second drop')
  await ops.fill('#start-in', '30')
  const productsBefore = Number((await env.db('products').count({ n: '*' }).first() as { n: number }).n)
  // Pressed twice in a row: one sale.
  await ops.dblclick('#create-sale')
  await ops.waitForSelector('#created:has-text("created")')
  const sales = await env.db('seckill_events').where({ title: 'Second drop' }).select('start_at', 'product_id') as Array<{ start_at: Date, product_id: number }>
  t.equal(sales.length, 1, 'one sale for a double click')
  t.equal(Number(sales[0]?.product_id), product.id, 'of the chosen product')
  t.equal(Number((await env.db('products').count({ n: '*' }).first() as { n: number }).n), productsBefore, 'and no new product')
  const lead = (sales[0]?.start_at.getTime() ?? 0) - Date.now()
  t.ok(lead > 15_000 && lead < 35_000, `it starts in about 30 s by the server's clock (${Math.round(lead / 1000)} s), not an hour early`)
  t.match(await ops.textContent('#starts-at') ?? '', /by the server's clock/, 'the form says by which clock')
})
