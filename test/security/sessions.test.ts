// Issue item 9: two tabs refreshing with the same token at once revoked the family and signed the
// buyer out; logout looked only at the family half of a refresh token, so anyone who saw a family
// id could sign its owner out. Now a just-rotated token yields the same successor within the grace
// period, and logout needs the whole token.
import t from 'tap'
import { createHash } from 'node:crypto'
import { testEnv } from '../helpers/env'
import { startTestService } from '../helpers/sale'
import type { Http } from '../helpers/sale'
import { Rotate, rotateRefresh } from '../../src/redis/commands'

async function signUp (http: Http, email: string): Promise<string> {
  const r = await http.request('POST', '/api/v1/auth/register', { body: { email, password: 'copper kettle orbit marsh' } })
  return r.body.data.refresh_token as string
}
const refresh = async (http: Http, token: string): Promise<{ status: number, body: any }> => await http.request('POST', '/api/v1/auth/refresh', { body: { refresh_token: token } })
const sha256 = (s: string): string => createHash('sha256').update(s).digest('base64url')

t.test('two tabs refreshing with the same token at once both stay signed in, with the same new token', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const token = await signUp(http, 'tabs@example.com')
  const [a, b] = await Promise.all([refresh(http, token), refresh(http, token)])
  t.equal(a.status, 200, 'the first tab refreshed')
  t.equal(b.status, 200, 'the second tab refreshed too')
  t.equal(a.body.data.refresh_token, b.body.data.refresh_token, 'both hold the same new refresh token')
  t.not(a.body.data.refresh_token, token)
  const me = await http.request('GET', '/api/v1/me', { token: b.body.data.access_token })
  t.equal(me.status, 200, 'the second tab\'s access token works')
  const next = await refresh(http, a.body.data.refresh_token)
  t.equal(next.status, 200, 'the family lives on: the new token rotates again')
  // The original is now two rotations old: a replay, and the family is revoked.
  t.equal((await refresh(http, token)).status, 401, 'a token two rotations old is a replay')
  t.equal((await refresh(http, next.body.data.refresh_token)).status, 401, 'which revoked the family')
})

t.test('the grace period ends: the rotated token then counts as replayed', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const [family, secret] = (await signUp(http, 'late@example.com')).split('.') as [string, string]
  const key = env.keys.refreshFamily(family)
  const next = sha256('the successor')
  const t0 = 1_000_000
  t.type(await rotateRefresh(env.redis, key, sha256(secret), next, 60_000, t0, 10_000), 'string', 'rotated')
  t.type(await rotateRefresh(env.redis, key, sha256(secret), next, 60_000, t0 + 10_000, 10_000), 'string', 'at the end of the grace period: the same successor')
  t.equal(await env.redis.hget(key, 'current'), next, 'nothing changed')
  t.equal(await rotateRefresh(env.redis, key, sha256(secret), next, 60_000, t0 + 10_001, 10_000), Rotate.REPLAYED, 'after it: a replay')
  t.equal(await env.redis.exists(key), 0, 'the family is revoked')
})

t.test('a rotated token whose successor is not the one derived from it is a replay', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const [family, secret] = (await signUp(http, 'forged@example.com')).split('.') as [string, string]
  const key = env.keys.refreshFamily(family)
  t.type(await rotateRefresh(env.redis, key, sha256(secret), sha256('one'), 60_000, 1000, 10_000), 'string')
  t.equal(await rotateRefresh(env.redis, key, sha256(secret), sha256('two'), 60_000, 1001, 10_000), Rotate.REPLAYED)
})

t.test('logout needs the whole refresh token', async (t) => {
  const env = await testEnv(t)
  const { http } = await startTestService(env)
  const token = await signUp(http, 'owner@example.com')
  const [family] = token.split('.') as [string]
  const forged = `${family}.${'A'.repeat(43)}`
  const denied = await http.request('POST', '/api/v1/auth/logout', { body: { refresh_token: forged } })
  t.equal(denied.status, 401, 'the family id with another secret: refused')
  t.equal(denied.body.code, 'INVALID_REFRESH_TOKEN')
  const still = await refresh(http, token)
  t.equal(still.status, 200, 'and the owner is still signed in')
  const current = still.body.data.refresh_token as string
  t.equal((await http.request('POST', '/api/v1/auth/logout', { body: { refresh_token: current } })).status, 204, 'the owner signs out')
  t.equal((await http.request('POST', '/api/v1/auth/logout', { body: { refresh_token: current } })).status, 204, 'signing out again is harmless')
  t.equal((await refresh(http, current)).status, 401, 'the family is gone')
})
