// Issue 30: email verification (DaMai-Go's send-code / verify-code) and sales that require it.
// A code goes out through SMTP (nodemailer) to the catcher the service starts itself; a sale with
// `require_verified_email` refuses buyers whose token does not say so, decided from the token and
// the cached event: the refused buy and the admitted one cost the ingress no extra Redis command.
import t from 'tap'
import { testEnv } from '../helpers/env'
import { createSale, startTestService, until } from '../helpers/sale'
import type { Http } from '../helpers/sale'

const PASSWORD = 'copper kettle orbit marsh'

async function register (http: Http, email: string): Promise<{ id: string, access: string }> {
  const r = await http.request('POST', '/api/v1/auth/register', { body: { email, password: PASSWORD } })
  return { id: r.body.data.user.id as string, access: r.body.data.access_token as string }
}

t.test('a code mailed through SMTP verifies the address; wrong codes are limited', async (t) => {
  const env = await testEnv(t, { RATE_LIMIT_LOGIN: '1000' })
  const { service, http } = await startTestService(env)
  const mail = service.ingress?.mail
  t.ok(mail !== undefined, 'the service started its own SMTP catcher')
  const buyer = await register(http, 'Verify.Me@example.com')
  t.equal((await http.request('GET', '/api/v1/me', { token: buyer.access })).body.data.email_verified, false)

  const sent = await http.request('POST', '/api/v1/me/email/send-code', { token: buyer.access })
  t.equal(sent.status, 202)
  t.equal(sent.body.data.expires_in, 600)
  t.equal(sent.headers.get('cache-control'), 'no-store')
  await until(async () => (mail?.mails.length ?? 0) > 0, 5000, 'the mail')
  const caught = mail?.mails.at(-1)
  t.same(caught?.to, ['verify.me@example.com'], 'to the account\'s address')
  const code = /(\d{6})/.exec(caught?.subject ?? '')?.[1] as string
  t.match(code, /^\d{6}$/, 'six digits')
  t.equal((await http.request('POST', '/api/v1/me/email/send-code', { token: buyer.access })).status, 429, 'one code a minute')

  const wrong = code === '000000' ? '000001' : '000000'
  const bad = await http.request('POST', '/api/v1/me/email/verify', { token: buyer.access, body: { code: wrong } })
  t.same([bad.status, bad.body.code], [400, 'EMAIL_CODE_INVALID'])
  t.equal((await http.request('POST', '/api/v1/me/email/verify', { token: buyer.access, body: { code: 'abc' } })).status, 400, 'a malformed code')
  const other = await register(http, 'other@example.com')
  t.equal((await http.request('POST', '/api/v1/me/email/verify', { token: other.access, body: { code } })).status, 400, 'the code is the account\'s own')

  const ok = await http.request('POST', '/api/v1/me/email/verify', { token: buyer.access, body: { code } })
  t.equal(ok.status, 200, 'the right code verifies')
  const claims = JSON.parse(Buffer.from((ok.body.data.access_token as string).split('.')[1] as string, 'base64url').toString()) as { ev?: boolean }
  t.equal(claims.ev, true, 'the new access token says so')
  t.equal((await http.request('GET', '/api/v1/me', { token: ok.body.data.access_token })).body.data.email_verified, true)
  t.equal((await http.request('POST', '/api/v1/me/email/verify', { token: buyer.access, body: { code } })).status, 400, 'a code works once')
  const login = await http.request('POST', '/api/v1/auth/login', { body: { email: 'verify.me@example.com', password: PASSWORD } })
  t.equal(JSON.parse(Buffer.from((login.body.data.access_token as string).split('.')[1] as string, 'base64url').toString()).ev, true, 'and so does every later sign-in')

  // Five wrong tries void a code.
  await env.redis.del(env.keys.emailCodeSent(other.id))
  t.equal((await http.request('POST', '/api/v1/me/email/send-code', { token: other.access })).status, 202)
  await until(async () => mail?.mails.some((m) => m.to.includes('other@example.com')) ?? false, 5000, 'the second mail')
  const otherCode = /(\d{6})/.exec(mail?.mails.filter((m) => m.to.includes('other@example.com')).at(-1)?.subject ?? '')?.[1] as string
  const otherWrong = otherCode === '111111' ? '111112' : '111111'
  for (let i = 0; i < 5; i++) await http.request('POST', '/api/v1/me/email/verify', { token: other.access, body: { code: otherWrong } })
  t.equal((await http.request('POST', '/api/v1/me/email/verify', { token: other.access, body: { code: otherCode } })).status, 400, 'after five wrong tries the right code is void too')
  t.notMatch(JSON.stringify(await env.db('admin_audit').select('*')), otherCode, 'codes are kept nowhere in MySQL')
})

t.test('require_verified_email: refused from the token, no extra Redis command on the buy path', async (t) => {
  // The ingress alone: a worker in the same process would share its Redis client.
  const env = await testEnv(t, { PROCESS_ROLE: 'ingress' })
  const { service, http } = await startTestService(env)
  const admin = env.token(1, 'admin')
  const strict = await createSale(http, env, { stock: 5 })
  const patched = await env.db('seckill_events').where({ id: strict }).update({ require_verified_email: true })
  t.equal(patched, 1)
  const open = await createSale(http, env, { stock: 5 })
  const view = await http.request('GET', `/api/v1/events/${strict}`)
  t.equal(view.body.data.require_verified_email, true, 'the sale says so')
  const created = await http.request('POST', '/api/v1/admin/events', {
    token: admin,
    body: { product_id: 1, title: 'Verified only', price_cents: 1, stock: 1, start_at: new Date(Date.now() + 3_600_000).toISOString(), end_at: new Date(Date.now() + 7_200_000).toISOString(), require_verified_email: true }
  })
  t.equal(created.body.data.require_verified_email, true, 'admins set it when creating a sale')

  // Count the ingress's Redis commands during one buy.
  const redis = service.runtime.redis as unknown as { sendCommand: (...a: unknown[]) => unknown }
  const send = redis.sendCommand.bind(redis)
  let commands = 0
  redis.sendCommand = (...a: unknown[]) => { commands++; return send(...a) }
  t.teardown(() => { redis.sendCommand = send })
  const counted = async (eventId: number, token: string): Promise<{ status: number, body: any, commands: number }> => {
    // The event rows are cached first, so each buy is measured alone.
    await http.request('GET', `/api/v1/events/${eventId}`)
    commands = 0
    const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token })
    return { ...r, commands }
  }

  const refused = await counted(strict, env.token(501))
  t.same([refused.status, refused.body.code], [403, 'EMAIL_NOT_VERIFIED'], 'a token without the claim is refused')
  t.equal(refused.commands, 0, 'without touching Redis')
  t.equal(await env.redis.hexists(env.keys.shard({ eventId: strict, shard: 0 }).holders, '501'), 0, 'and holds no ticket')

  const sign = (id: number, ev: boolean): string => {
    const { createTokenSigner } = require('../../src/http/auth') as typeof import('../../src/http/auth')
    return createTokenSigner(env.config.jwtSecret as string)({ id: String(id), role: 'user', emailVerified: ev })
  }
  // The fewest commands over a few buys of each (a timer of the ingress may add one now and then).
  const verified = []
  const plain = []
  for (let u = 0; u < 5; u++) {
    verified.push(await counted(strict, sign(510 + u, true)))
    plain.push(await counted(open, sign(520 + u, false)))
  }
  t.ok(verified.every((r) => r.status === 202), 'verified buyers are admitted')
  t.ok(plain.every((r) => r.status === 202), 'a sale without the requirement admits anyone')
  const least = (rs: Array<{ commands: number }>): number => Math.min(...rs.map((r) => r.commands))
  t.equal(least(verified), least(plain), `the requirement costs no Redis command (${verified.map((r) => r.commands).join(',')} and ${plain.map((r) => r.commands).join(',')})`)
})
