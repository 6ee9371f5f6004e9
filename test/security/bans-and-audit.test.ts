// Issue items 10 (audit) and banning: no admin write was recorded anywhere, and an operator had no
// way to stop a scalper. Now every admin write lands in the audit trail (GET /admin/audit), and a
// banned buyer's buys are refused inside the admission script, its sign-ins and refreshes fail,
// and the buyer page says so.
import t from 'tap'
import { signUp } from '../helpers/browser'
import { existsSync } from 'node:fs'
import { chromium } from 'playwright-core'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import type { Http } from '../helpers/sale'

const PASSWORD = 'copper kettle orbit marsh'

async function register (http: Http, email: string): Promise<{ id: string, access: string, refresh: string }> {
  const r = await http.request('POST', '/api/v1/auth/register', { body: { email, password: PASSWORD } })
  return { id: r.body.data.user.id as string, access: r.body.data.access_token as string, refresh: r.body.data.refresh_token as string }
}

const buy = async (http: Http, eventId: number, token: string): Promise<{ status: number, body: any }> => await http.request('POST', `/api/v1/events/${eventId}/buy`, { token })

async function heldInRedis (env: TestEnv, eventId: number, userId: string): Promise<boolean> {
  return await env.redis.hexists(env.keys.shard({ eventId, shard: 0 }).holders, userId) === 1
}

t.test('a banned buyer cannot buy, sign in or refresh; lifting the ban restores all three', async (t) => {
  const env = await testEnv(t, { RATE_LIMIT_LOGIN: '1000' })
  const { http } = await startTestService(env)
  // Account 1 is the admin the tokens below (and createSale's) name: banning the scalper ends the
  // scalper's sessions only.
  await env.db('users').insert({ email: 'ops@example.com', password_hash: null, role: 'admin' })
  const admin = env.token(1, 'admin')
  const eventId = await createSale(http, env, { stock: 5 })
  const scalper = await register(http, 'scalper@example.com')
  const honest = await register(http, 'honest@example.com')

  const banned = await http.request('POST', `/api/v1/admin/users/${scalper.id}/ban`, { token: admin, body: { reason: 'bots: 400 buys a second' } })
  t.equal(banned.status, 200)
  t.match(banned.body.data, { id: scalper.id, banned: true, ban_reason: 'bots: 400 buys a second' })

  const refused = await buy(http, eventId, scalper.access)
  t.equal(refused.status, 403, 'the buy is refused')
  t.equal(refused.body.code, 'ACCOUNT_BANNED')
  t.notOk(await heldInRedis(env, eventId, scalper.id), 'no ticket was given')
  t.equal((await buy(http, eventId, honest.access)).status, 202, 'others buy as before')

  const refreshed = await http.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: scalper.refresh } })
  t.equal(refreshed.status, 403, 'the refresh fails')
  t.equal(refreshed.body.code, 'ACCOUNT_BANNED')
  const login = await http.request('POST', '/api/v1/auth/login', { body: { email: 'scalper@example.com', password: PASSWORD } })
  t.equal(login.status, 403, 'signing in fails, with the reason')
  t.equal(login.body.code, 'ACCOUNT_BANNED')
  const wrong = await http.request('POST', '/api/v1/auth/login', { body: { email: 'scalper@example.com', password: 'not the password at all' } })
  t.equal(wrong.status, 401, 'a wrong password learns nothing about the ban')

  // A sale warmed after the ban refuses the buyer too (the ban is copied at warm-up).
  const later = await createSale(http, env, { stock: 5 })
  t.equal((await buy(http, later, scalper.access)).body.code, 'ACCOUNT_BANNED', 'a sale created later refuses too')

  t.equal((await http.request('POST', `/api/v1/admin/users/${scalper.id}/unban`, { token: admin })).body.data.banned, false)
  const back = await http.request('POST', '/api/v1/auth/login', { body: { email: 'scalper@example.com', password: PASSWORD } })
  t.equal(back.status, 200, 'after the ban is lifted the buyer signs in')
  t.equal((await buy(http, eventId, back.body.data.access_token)).status, 202, 'and buys')
  t.equal((await buy(http, later, back.body.data.access_token)).status, 202, 'in every sale')
})

t.test('bans: bad requests change nothing', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const admin = env.token(1, 'admin')
  const buyer = await register(http, 'buyer@example.com')
  const otherAdmin = await register(http, 'second-admin@example.com')
  await env.db('users').where({ id: otherAdmin.id }).update({ role: 'admin' })
  const cases: Array<[string, string, unknown, string | undefined, number]> = [
    ['a buyer cannot ban', `/api/v1/admin/users/${otherAdmin.id}/ban`, { reason: 'x' }, env.token(buyer.id), 403],
    ['an admin cannot be banned', `/api/v1/admin/users/${otherAdmin.id}/ban`, { reason: 'x' }, admin, 403],
    ['no reason', `/api/v1/admin/users/${buyer.id}/ban`, {}, admin, 400],
    ['a blank reason', `/api/v1/admin/users/${buyer.id}/ban`, { reason: '   ' }, admin, 400],
    ['an extra field', `/api/v1/admin/users/${buyer.id}/ban`, { reason: 'x', until: 'never' }, admin, 400],
    ['an unknown account', '/api/v1/admin/users/999999/ban', { reason: 'x' }, admin, 404],
    ['a malformed id', '/api/v1/admin/users/abc/ban', { reason: 'x' }, admin, 400],
    ['no token', `/api/v1/admin/users/${buyer.id}/ban`, { reason: 'x' }, undefined, 401]
  ]
  for (const [what, path, body, token, status] of cases) {
    const r = await http.request('POST', path, { token, body })
    t.equal(r.status, status, `${what}: ${status}`)
  }
  const rows = await env.db('users').whereNotNull('banned_at').count({ n: '*' }).first() as { n: number | string }
  t.equal(Number(rows.n), 0, 'nobody was banned')
  const audited = await env.db('admin_audit').whereIn('action', ['user.ban', 'user.unban']).where({ outcome: 'done' }).count({ n: '*' }).first() as { n: number | string }
  t.equal(Number(audited.n), 0, 'and no ban was audited as done')
  // Issue 30, item 10: the failed attempts are in the trail, as refused (the buyer's as admin.denied).
  const refused = await env.db('admin_audit').where({ outcome: 'refused' }).select('action') as Array<{ action: string }>
  t.same(refused.map((r) => r.action).sort(), ['admin.denied', ...Array(6).fill('user.ban')].sort(), 'each signed-in attempt is recorded as refused')
})

t.test('every admin write lands in the audit trail, newest first, readable by admins only', async (t) => {
  const env = await testEnv(t, { ADMIN_EMAIL: 'ops@example.com', ADMIN_PASSWORD: 'operator password 1', PAYMENT_TIMEOUT_MS: '600000' })
  const { http } = await startTestService(env)
  const adminLogin = await http.request('POST', '/api/v1/auth/login', { body: { email: 'ops@example.com', password: 'operator password 1' } })
  const me = await http.request('GET', '/api/v1/me', { token: adminLogin.body.data.access_token })
  const adminId = me.body.data.id as string
  const admin = adminLogin.body.data.access_token as string
  const requests: string[] = []
  const write = async (method: string, path: string, body?: unknown): Promise<any> => {
    const r = await http.request(method, path, { token: admin, body })
    t.ok(r.status < 300, `${method} ${path}: ${r.status}`)
    requests.push(r.headers.get('x-request-id') ?? '')
    return r.body.data
  }
  const product = await write('POST', '/api/v1/admin/products', { title: 'Audit tee', price_cents: 1500 })
  await write('PATCH', `/api/v1/admin/products/${String(product.id)}`, { price_cents: 1400 })
  const later = Date.now() + 3_600_000
  const upcoming = await write('POST', '/api/v1/admin/events', { product_id: product.id, title: 'Audit drop', price_cents: 900, stock: 2, start_at: new Date(later).toISOString(), end_at: new Date(later + 3_600_000).toISOString() })
  await write('PATCH', `/api/v1/admin/events/${String(upcoming.id)}`, { title: 'Audit drop (renamed)' })
  const event = { id: await createSale(http, env, { stock: 2 }) }
  const buyer = await register(http, 'audit-buyer@example.com')
  const ticket = (await buy(http, event.id as number, buyer.access)).body.data
  let order: string | undefined
  await until(async () => {
    const r = await http.request('GET', `/api/v1/tickets/${String(ticket.ticket_id)}`, { token: buyer.access })
    order = r.body.data?.order_id
    return order !== undefined
  }, 30_000, 'the buyer to win')
  await write('POST', `/api/v1/orders/${String(order)}/cancel`)
  await write('POST', `/api/v1/admin/users/${buyer.id}/ban`, { reason: 'chargebacks' })
  // A buyer's own cancel is not an admin write.
  const own = await register(http, 'own-cancel@example.com')
  t.equal((await buy(http, event.id as number, own.access)).status, 202)

  const trail = await http.request('GET', '/api/v1/admin/audit?page_size=50', { token: admin })
  t.equal(trail.status, 200)
  const items = trail.body.data.items as Array<Record<string, any>>
  // createSale wrote a product and an event too, with a token of its own for the same admin.
  t.ok(items.some((i) => i.action === 'event.create' && i.target_id === String(event.id) && i.actor_id === adminId), 'the sale created on the side is there')
  const mine = items.filter((i) => requests.includes(i.request_id))
  t.ok(mine.every((i) => i.actor_id === adminId), 'each with the admin who made it')
  t.same(mine.map((i) => i.action), ['user.ban', 'order.cancel', 'event.update', 'event.create', 'product.update', 'product.create'], 'each write, newest first')
  t.same(mine.map((i) => i.request_id), [...requests].reverse(), 'with the request id each was answered with')
  t.same(mine.map((i) => i.target_id), [buyer.id, String(order), String(upcoming.id), String(upcoming.id), String(product.id), String(product.id)], 'and what it changed')
  t.ok(mine.every((i) => i.address === '127.0.0.1'), 'from where')
  t.same(mine[0]?.detail, { reason: 'chargebacks' }, 'and what was asked')
  t.same(mine[4]?.detail, { price_cents: 1400 })
  const fromEnv = items.find((i) => i.action === 'user.role')
  t.match(fromEnv, { actor_id: null, target_id: adminId, detail: { role: 'admin', via: 'environment' } }, 'the admin from the environment is in the trail too')

  const bans = await http.request('GET', '/api/v1/admin/audit?action=user.ban', { token: admin })
  t.same(bans.body.data.items.map((i: any) => i.action), ['user.ban'], 'filtered by action')
  t.equal((await http.request('GET', '/api/v1/admin/audit', { token: own.access })).status, 403, 'buyers cannot read it')
  t.equal((await http.request('GET', '/api/v1/admin/audit', { token: buyer.access })).status, 401, 'the banned buyer\'s sign-in has ended')
  t.equal((await http.request('GET', '/api/v1/admin/audit?action=DROP%20TABLE', { token: admin })).status, 400, 'a malformed filter is refused')
})

t.test('the buyer page says when the account is suspended', async (t) => {
  const CHROMIUM = '/usr/bin/chromium'
  t.ok(existsSync(CHROMIUM), `Chromium at ${CHROMIUM}`)
  if (!existsSync(CHROMIUM)) return
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 3 })
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--headless', '--disable-gpu', '--no-first-run', '--disable-background-networking'] })
  env.defer(async () => { await browser.close() })
  const page = await (await browser.newContext()).newPage()
  await page.goto(`${http.base}/#/events/${eventId}`)
  await signUp(page, 'suspended@example.com', PASSWORD)
  const user = await env.db('users').first('id').where({ email: 'suspended@example.com' }) as { id: number }
  t.equal((await http.request('POST', `/api/v1/admin/users/${user.id}/ban`, { token: env.token(1, 'admin'), body: { reason: 'test' } })).status, 200)
  await page.waitForSelector('#buy:not([disabled])')
  await page.click('#buy')
  await page.waitForSelector('.message:has-text("suspended")')
  t.pass('the page says the account is suspended')
})
