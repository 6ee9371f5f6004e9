// Issue 30, items 2 and 3: a ban, a logout or create-admin left the access token working for up to
// its 15 minutes (a banned buyer read /orders and paid); promotion from the environment kept a
// pre-registrant's refresh token, which then yielded an admin token; there was no password change,
// no "sign out everywhere", and each refresh renewed a family's lifetime without end. Now each of
// these ends the account's earlier sessions at once, on every authenticated route but buy and poll,
// which keep their single Redis round trip.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { Redis } from 'ioredis'
import { testEnv } from '../helpers/env'
import type { TestEnv } from '../helpers/env'
import { createSale, startTestService } from '../helpers/sale'
import type { Http } from '../helpers/sale'
import { ensureAdmin, usersRepository } from '../../src/identity/accounts'
import { raiseSessionGen } from '../../src/redis/commands'
import { repoPath } from '../../src/util/paths'

const PASSWORD = 'copper kettle orbit marsh'
/** An admin token whose subject is no account (tests sign their own; see test/helpers/env.ts). */
const adminOf = (env: TestEnv): string => env.token(900_000_001, 'admin')

interface Session { id: string, access: string, refresh: string }

async function register (http: Http, email: string, password = PASSWORD): Promise<Session> {
  const r = await http.request('POST', '/api/v1/auth/register', { body: { email, password } })
  if (r.status !== 201) throw new Error(`register: ${r.status} ${JSON.stringify(r.body)}`)
  return { id: r.body.data.user.id as string, access: r.body.data.access_token as string, refresh: r.body.data.refresh_token as string }
}

async function login (http: Http, email: string, password = PASSWORD): Promise<Session & { status: number }> {
  const r = await http.request('POST', '/api/v1/auth/login', { body: { email, password } })
  return { status: r.status, id: '', access: r.body.data?.access_token as string, refresh: r.body.data?.refresh_token as string }
}

const me = async (http: Http, token: string): Promise<number> => (await http.request('GET', '/api/v1/me', { token })).status
const refresh = async (http: Http, token: string): Promise<{ status: number, body: any }> => await http.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: token } })

t.test('a ban stops the buyer\'s access token at once: no orders read, nothing paid', async (t) => {
  const env = await testEnv(t, { RATE_LIMIT_LOGIN: '1000' })
  const { http } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 2 })
  const buyer = await register(http, 'scalper@example.com')
  const bought = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: buyer.access })
  const won = await http.request('GET', `/api/v1/tickets/${bought.body.data.ticket_id as string}?wait=10000`, { token: buyer.access })
  t.equal(won.body.data.status, 'won')
  const orderId = won.body.data.order_id as number
  t.equal((await http.request('GET', '/api/v1/orders', { token: buyer.access })).status, 200, 'before the ban the buyer reads its orders')

  t.equal((await http.request('POST', `/api/v1/admin/users/${buyer.id}/ban`, { token: adminOf(env), body: { reason: 'bots' } })).status, 200)
  const orders = await http.request('GET', '/api/v1/orders', { token: buyer.access })
  t.equal(orders.status, 401, 'the next read is refused')
  t.equal(orders.body.code, 'UNAUTHORIZED')
  t.match(orders.body.message, /sign-in has ended/)
  t.equal((await http.request('POST', `/api/v1/orders/${orderId}/pay`, { token: buyer.access })).status, 401, 'paying is refused')
  const row = await env.db('orders').first('status').where({ id: orderId }) as { status: string }
  t.equal(row.status, 'pending_payment', 'the order is unpaid')
  t.equal((await refresh(http, buyer.refresh)).status, 403, 'and the refresh says banned')

  // Redis forgets the cached generation (a restart without persistence): MySQL still knows.
  await env.redis.del(env.keys.sessions(buyer.id))
  t.equal(await me(http, buyer.access), 401, 'the token stays void after Redis lost its cache')

  await http.request('POST', `/api/v1/admin/users/${buyer.id}/unban`, { token: adminOf(env) })
  t.equal(await me(http, buyer.access), 401, 'lifting the ban does not bring the old sign-in back')
  const again = await login(http, 'scalper@example.com')
  t.equal(again.status, 200)
  t.equal(await me(http, again.access), 200, 'a new sign-in works')
})

t.test('logout stops that device\'s access token, not the others\'', async (t) => {
  const env = await testEnv(t, { RATE_LIMIT_LOGIN: '1000' })
  const { http } = await startTestService(env)
  const phone = await register(http, 'two-devices@example.com')
  const laptop = await login(http, 'two-devices@example.com')
  t.equal(await me(http, phone.access), 200)
  t.equal((await http.request('POST', '/api/v1/auth/logout', { body: { refresh_token: phone.refresh } })).status, 204)
  t.equal(await me(http, phone.access), 401, 'the phone\'s access token is void')
  t.equal(await me(http, laptop.access), 200, 'the laptop stays signed in')
  t.equal((await refresh(http, laptop.refresh)).status, 200)
  // A forged logout (right family, wrong secret) voids nothing.
  const [family] = laptop.refresh.split('.') as [string]
  t.equal((await http.request('POST', '/api/v1/auth/logout', { body: { refresh_token: `${family}.${'A'.repeat(43)}` } })).status, 401)
  t.equal(await me(http, laptop.access), 200, 'a family id alone signs nobody out')
})

t.test('promotion from the environment voids a pre-registrant\'s sessions', async (t) => {
  const env = await testEnv(t, { RATE_LIMIT_LOGIN: '1000' })
  const { http } = await startTestService(env)
  // The attacker registered the operator's address with the password the operator then configured.
  const attacker = await register(http, 'ops@example.com', 'amber lantern seventeen gulls')
  const users = usersRepository(env.db)
  await ensureAdmin({ users, sessions: { redis: env.redis, keys: env.keys, ttlMs: env.config.accessTokenTtlMs } }, 'ops@example.com', 'amber lantern seventeen gulls')
  const r = await refresh(http, attacker.refresh)
  t.equal(r.status, 401, 'the pre-registrant\'s refresh token yields nothing, no admin token')
  t.equal(r.body.code, 'INVALID_REFRESH_TOKEN')
  t.equal(await me(http, attacker.access), 401, 'nor does its access token work')
  const operator = await login(http, 'ops@example.com', 'amber lantern seventeen gulls')
  t.equal((await http.request('GET', '/api/v1/admin/audit', { token: operator.access })).status, 200, 'the operator signs in as admin')
})

t.test('create-admin ends the account\'s earlier sessions in the running service', async (t) => {
  const env = await testEnv(t, { RATE_LIMIT_LOGIN: '1000' })
  const { http } = await startTestService(env)
  const before = await register(http, 'taken@example.com')
  const r = spawnSync(process.execPath, [repoPath('dist', 'src', 'cli', 'create-admin.js'), 'taken@example.com', 'amber lantern seventeen gulls'], { env: { PATH: process.env.PATH ?? '', ...env.env }, encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /is now admin; its password was set to the one given and its earlier sign-ins ended/)
  t.equal(await me(http, before.access), 401, 'the earlier access token is void')
  t.equal((await refresh(http, before.refresh)).status, 401, 'and the earlier refresh token')
})

t.test('a password change ends every other sign-in and hands the caller a new one', async (t) => {
  const env = await testEnv(t, { RATE_LIMIT_LOGIN: '1000' })
  const { http } = await startTestService(env)
  const owner = await register(http, 'owner@example.com')
  const other = await login(http, 'owner@example.com')
  const change = async (token: string, body: unknown): Promise<{ status: number, body: any }> => await http.request('POST', '/api/v1/me/password', { token, body })
  const hashBefore = (await env.db('users').first('password_hash').where({ id: owner.id }) as { password_hash: string }).password_hash

  const wrong = await change(owner.access, { current_password: 'not my password at all', new_password: 'amber lantern seventeen gulls' })
  t.equal(wrong.status, 403)
  t.equal(wrong.body.code, 'CURRENT_PASSWORD_WRONG')
  const weak = await change(owner.access, { current_password: PASSWORD, new_password: 'password1' })
  t.equal(weak.status, 400)
  t.equal(weak.body.code, 'WEAK_PASSWORD')
  const published = await change(owner.access, { current_password: PASSWORD, new_password: 'a long buyer password' })
  t.equal(published.body.code, 'WEAK_PASSWORD', 'a published example is refused')
  t.equal((await change(owner.access, { current_password: PASSWORD })).status, 400, 'a missing field')
  t.equal((await change(owner.access, { current_password: PASSWORD, new_password: 'x'.repeat(129) })).status, 400, 'too long')
  t.equal((await env.db('users').first('password_hash').where({ id: owner.id }) as { password_hash: string }).password_hash, hashBefore, 'refused changes change nothing')
  t.equal(await me(http, other.access), 200, 'and end no session')

  const done = await change(owner.access, { current_password: PASSWORD, new_password: 'amber lantern seventeen gulls' })
  t.equal(done.status, 200)
  t.equal(await me(http, owner.access), 401, 'the caller\'s old access token is void')
  t.equal(await me(http, other.access), 401, 'so is the other device\'s')
  t.equal((await refresh(http, other.refresh)).status, 401, 'and its refresh token')
  t.equal(await me(http, done.body.data.access_token), 200, 'the new access token works')
  t.equal((await refresh(http, done.body.data.refresh_token)).status, 200, 'and the new refresh token')
  t.equal((await login(http, 'owner@example.com')).status, 401, 'the old password no longer signs in')
  t.equal((await login(http, 'owner@example.com', 'amber lantern seventeen gulls')).status, 200, 'the new one does')
  const audit = await env.db('admin_audit').where({ action: 'user.password', target_id: owner.id }).first('actor_id', 'detail') as { actor_id: number, detail: string | null }
  t.equal(String(audit.actor_id), owner.id, 'the change is in the audit trail')
  t.notMatch(JSON.stringify(audit), /amber|copper/, 'without a password')
})

t.test('sign out everywhere', async (t) => {
  const env = await testEnv(t, { RATE_LIMIT_LOGIN: '1000' })
  const { http } = await startTestService(env)
  const a = await register(http, 'everywhere@example.com')
  const b = await login(http, 'everywhere@example.com')
  t.equal((await http.request('POST', '/api/v1/me/sessions/revoke', { token: b.access })).status, 204)
  for (const [name, s] of [['this device', b], ['the other', a]] as const) {
    t.equal(await me(http, s.access), 401, `${name}: access token void`)
    t.equal((await refresh(http, s.refresh)).status, 401, `${name}: refresh token void`)
  }
  t.equal((await http.request('POST', '/api/v1/me/sessions/revoke', { token: b.access })).status, 401, 'a voided token cannot ask again')
  t.equal((await login(http, 'everywhere@example.com')).status, 200, 'signing in again works')
  t.ok(await env.db('admin_audit').where({ action: 'user.sessions_revoked', target_id: a.id }).first('id'), 'audited')
})

t.test('a refresh family ends at its absolute lifetime, however active', async (t) => {
  const env = await testEnv(t, { REFRESH_ABSOLUTE_TTL_MS: '60000' })
  const { http } = await startTestService(env)
  const s = await register(http, 'active@example.com')
  const [family] = s.refresh.split('.') as [string]
  const key = env.keys.refreshFamily(family)
  t.ok(await env.redis.pttl(key) <= 60_000, 'the family\'s key lives no longer than the absolute lifetime')
  const next = await refresh(http, s.refresh)
  t.equal(next.status, 200)
  t.ok(await env.redis.pttl(key) <= 60_000, 'a rotation does not extend it past that')
  // As if signed in 61 s ago (the family's sign-in time is what the cap counts from).
  await env.redis.hset(key, 'issued', Date.now() - 61_000)
  const over = await refresh(http, next.body.data.refresh_token)
  t.equal(over.status, 401, 'past the absolute lifetime the refresh is refused')
  t.equal(await env.redis.exists(key), 0, 'and the family is gone')
})

t.test('a stale cache fill never lowers a generation', async (t) => {
  const env = await testEnv(t)
  const key = env.keys.sessions('42')
  t.equal(await raiseSessionGen(env.redis, key, 3, 60_000), 3)
  t.equal(await raiseSessionGen(env.redis, key, 2, 60_000), 3, 'a fill that read MySQL before a raise keeps the raise')
  t.equal(await env.redis.hget(key, 'gen'), '3')
})

t.test('buy and poll make no session lookup; the other routes make one', async (t) => {
  const env = await testEnv(t)
  const { http, service } = await startTestService(env)
  const eventId = await createSale(http, env, { stock: 5 })
  const buyer = await register(http, 'crowd@example.com')
  const sessionKey = env.keys.sessions(buyer.id)
  t.equal(await me(http, buyer.access), 200, 'the generation is cached (a miss reads MySQL once)')
  // Every command the service sends goes through its client's sendCommand: the ones naming the
  // buyer's session key are counted (a MONITOR of the shared Redis also sees the other tests'
  // traffic, and ioredis lost its place in the replies under that load).
  const client = service.runtime.redis as Redis
  const sendCommand = client.sendCommand.bind(client)
  const seen: string[] = []
  client.sendCommand = ((command: { name: string, args: unknown[] }, ...rest: unknown[]) => {
    if (command.args.some((a) => String(a) === sessionKey)) seen.push(command.name)
    return (sendCommand as (...a: unknown[]) => unknown)(command, ...rest)
  }) as typeof client.sendCommand
  t.teardown(() => { client.sendCommand = sendCommand })
  const bought = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: buyer.access })
  t.equal(bought.status, 202)
  for (let i = 0; i < 5; i++) t.equal((await http.request('GET', `/api/v1/tickets/${bought.body.data.ticket_id as string}`, { token: buyer.access })).status, 200)
  t.equal((await http.request('GET', `/api/v1/events/${eventId}/ticket`, { token: buyer.access })).status, 200)
  t.equal(await me(http, buyer.access), 200)
  t.same(seen.map((c) => c.toLowerCase()), ['hmget'], 'one HMGET, for GET /me alone; none for the buy or the six polls')
})
