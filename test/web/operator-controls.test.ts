/**
 * Issue 32, item 5: the operator acts on a running sale. Pause and resume through the API, taken
 * by one process and obeyed by a worker in another (the hold is the sale's row in MySQL); end
 * early; bad requests answered 4xx. Then the same on the operator page in Chromium, with the buyer
 * page saying the sale is paused, bans from the page, and the audit trail on the page.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { loadConfig } from '../../src/config'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import { CHROMIUM, launchBrowser, signUp } from '../helpers/browser'

t.test('pause, resume and end through the API: the hold is read by the drain of another process; bad input is refused', async (t) => {
  const env = await testEnv(t)
  // The ingress that takes the pause holds no drain; the worker is another process.
  const { http } = await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'ingress' }))
  await startTestService(env, loadConfig({ ...env.env, PROCESS_ROLE: 'worker', METRICS_PORT: '0' }))
  const admin = env.token(1, 'admin')
  const held = await createSale(http, env, { stock: 5 })
  const witness = await createSale(http, env, { stock: 5 })

  // Bad requests change nothing and say why.
  const post = async (path: string, token?: string): Promise<{ status: number, body: any }> => await http.request('POST', `/api/v1/admin/events/${path}`, { token })
  t.equal((await post(`${held}/pause`)).status, 401, 'no token: 401')
  t.equal((await post(`${held}/pause`, env.token(77))).status, 403, 'a buyer: 403')
  const bad = await post('abc/pause', admin)
  t.equal(bad.status, 400, 'a malformed id: 400')
  t.match(bad.body, { code: 'BAD_REQUEST' }, 'with a stable code')
  t.equal((await post('999999999/pause', admin)).status, 404, 'an unknown sale: 404')
  const upcoming = await createSale(http, env, { stock: 1, startInMs: 600_000 })
  const early = await post(`${upcoming}/end`, admin)
  t.equal(early.status, 409, 'ending a sale that has not started: 409')
  t.match(early.body.message, /not started/, 'and why')

  // Paused: buys are still admitted and queued, and the worker decides none of them.
  const paused = await post(`${held}/pause`, admin)
  t.equal(paused.status, 200, 'paused')
  t.equal(paused.body.data.paused, true, 'the sale reads paused')
  t.equal((await post(`${held}/pause`, admin)).status, 200, 'pausing again is harmless')
  t.equal((await http.request('GET', `/api/v1/events/${held}`)).body.data.paused, true, 'buyers read it paused')
  const buy = await http.request('POST', `/api/v1/events/${held}/buy`, { token: env.token(500) })
  t.equal(buy.status, 202, 'a buy of a paused sale is queued')
  // The witness: a buy of another sale, after it, is decided by the same worker.
  const other = await http.request('POST', `/api/v1/events/${witness}/buy`, { token: env.token(501) })
  await until(async () => (await http.request('GET', `/api/v1/tickets/${other.body.data.ticket_id}?wait=1000`, { token: env.token(501) })).body.data.status === 'won', 30_000, 'the witness sale\'s buyer to win')
  const owned = async (): Promise<boolean> => (await http.request('GET', `/api/v1/admin/events/${held}/stats`, { token: admin })).body.data.shards[0].owner !== null
  await until(owned, 30_000, 'the held sale\'s shard to have its worker')
  const waiting = await http.request('GET', `/api/v1/tickets/${buy.body.data.ticket_id}`, { token: env.token(500) })
  t.equal(waiting.body.data.status, 'queued', 'the held sale\'s buyer is still in line')
  t.equal(await env.db('orders').where({ event_id: held }).count({ n: '*' }).first().then((r: any) => Number(r.n)), 0, 'and no order was written')

  // Resumed: the line moves.
  const resumed = await post(`${held}/resume`, admin)
  t.equal(resumed.status, 200, 'resumed')
  t.equal(resumed.body.data.paused, false, 'the sale reads running')
  await until(async () => (await http.request('GET', `/api/v1/tickets/${buy.body.data.ticket_id}?wait=1000`, { token: env.token(500) })).body.data.status === 'won', 30_000, 'the held buyer to win once resumed')
  t.pass('the held buyer wins once the sale resumes')

  // End early: buys are refused from then on; ending or pausing again is a conflict.
  const ended = await post(`${held}/end`, admin)
  t.equal(ended.status, 200, 'ended early')
  t.equal(ended.body.data.status, 'ended', 'the sale reads ended')
  await until(async () => (await http.request('POST', `/api/v1/events/${held}/buy`, { token: env.token(502) })).status === 409, 10_000, 'buys to be refused')
  t.pass('a buy after the end is refused (409)')
  t.equal((await post(`${held}/end`, admin)).status, 409, 'ending it again: 409')
  t.equal((await post(`${held}/pause`, admin)).status, 409, 'pausing an ended sale: 409')

  // Every action is in the audit trail.
  const trail = await http.request('GET', `/api/v1/admin/audit?target_type=event&target_id=${held}&page_size=50`, { token: admin })
  const actions = (trail.body.data.items as Array<{ action: string, outcome: string }>).map((a) => `${a.action}:${a.outcome}`)
  for (const want of ['event.pause:done', 'event.resume:done', 'event.end:done', 'event.end:refused', 'event.pause:refused']) t.ok(actions.includes(want), `audited: ${want}`)
})

t.test('on the operator page: pause, the buyer page says so, resume, ban and unban, the audit trail, end early', async (t) => {
  if (!existsSync(CHROMIUM)) { t.fail(`Chromium at ${CHROMIUM}`); return }
  const creds = { ADMIN_EMAIL: 'ops@example.com', ADMIN_PASSWORD: 'operator password 1' }
  const env = await testEnv(t, creds)
  const { http } = await startTestService(env, loadConfig({ ...env.env, ...creds }))
  const eventId = await createSale(http, env, { stock: 3 })
  const browser = await launchBrowser(env)
  const ops = await (await browser.newContext({ viewport: { width: 1280, height: 1000 } })).newPage()
  const buyer = await (await browser.newContext({ viewport: { width: 390, height: 844 } })).newPage()

  await ops.goto(`${http.base}/ops#${eventId}`)
  await ops.getByLabel('Email').fill(creds.ADMIN_EMAIL)
  await ops.getByLabel('Password').fill(creds.ADMIN_PASSWORD)
  await ops.click('#sign-in')
  await ops.waitForSelector('#sale-state:has-text("Running")')
  await ops.click('#pause')
  await ops.waitForSelector('#sale-state:has-text("Paused")')
  await ops.waitForSelector('#controls-said:has-text("Paused at")')
  t.ok(await ops.isVisible('#resume'), 'Resume is offered')
  t.notOk(await ops.isVisible('#pause'), 'Pause is not')
  await ops.waitForSelector('#audit tr[data-action="event.pause"]')
  t.pass('the pause is in the audit trail on the page')

  // The buyer page says the sale is paused, and a buyer joining the line is told why it stands still.
  await buyer.goto(`${http.base}/#/events/${eventId}`)
  await signUp(buyer, `paused-${env.id}@example.com`)
  await buyer.waitForSelector('#countdown:has-text("Paused by the organiser")')
  t.match(await buyer.textContent('#stock') ?? '', /can still join the line/, 'and what that means')
  await buyer.click('#buy')
  await buyer.waitForSelector('#eta:has-text("The organiser has paused the sale")')
  t.pass('in line, the buyer is told the organiser paused the sale')

  await ops.click('#resume')
  await ops.waitForSelector('#sale-state:has-text("Running")')
  await buyer.waitForSelector('#ticket-status:has-text("You won!")', { timeout: 30_000 })
  t.pass('resumed: the buyer wins')

  // Ban and unban the buyer from the page.
  const user = await env.db('users').where({ email: `paused-${env.id}@example.com` }).first('id') as { id: number }
  await ops.getByLabel('Buyer account id').fill(String(user.id))
  await ops.click('#ban')
  await ops.waitForSelector('#bans .message:has-text("Say why")')
  t.pass('a ban without a reason is refused on the page')
  await ops.getByLabel('Reason (recorded in the audit trail)').fill('scalping bot')
  await ops.click('#ban')
  await ops.waitForSelector('#ban-said:has-text("is banned")')
  t.equal(Boolean((await env.db('users').where({ id: user.id }).first('banned_at') as { banned_at: Date | null }).banned_at), true, 'banned in MySQL')
  await ops.waitForSelector('#audit tr[data-action="user.ban"]')
  await ops.click('#unban')
  await ops.waitForSelector('#ban-said:has-text("may buy again")')
  await ops.waitForSelector('#audit tr[data-action="user.unban"]')
  t.pass('unbanned, and both are in the trail')

  // End early, asked first.
  await ops.click('#end-sale')
  await ops.waitForSelector('#end-dialog[open]')
  await ops.click('#end-dialog-no')
  t.equal((await http.request('GET', `/api/v1/events/${eventId}`)).body.data.status === 'ended', false, '"Keep it running" keeps it running')
  await ops.click('#end-sale')
  await ops.click('#end-dialog-yes')
  await ops.waitForSelector('#sale-state:has-text("Ended")')
  await buyer.goto(`${http.base}/#/events/${eventId}`)
  await buyer.waitForSelector('#countdown:has-text("This sale has ended")')
  t.pass('the buyer page shows the sale ended')
})
