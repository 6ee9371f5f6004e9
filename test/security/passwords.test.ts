// Issue item 4: guessable passwords were accepted (`password`, `12345678`, the email itself) and
// scrypt ran at N=2^14, below OWASP's figure. Now registration, the admin from the environment
// and create-admin refuse guessable passwords; hashes are made at N=2^17 and older ones are
// upgraded when their owner signs in.
import t from 'tap'
import { testEnv } from '../helpers/env'
import { startTestService } from '../helpers/sale'
import { ensureAdmin, setAdmin, usersRepository } from '../../src/identity/accounts'
import { WeakPasswordError } from '../../src/identity/password-policy'
import { hashPassword, needsRehash, verifyPassword } from '../../src/identity/passwords'

t.test('registration refuses guessable passwords and creates nothing', async (t) => {
  const env = await testEnv(t, { RATE_LIMIT_REGISTER: '1000' })
  const { http } = await startTestService(env)
  for (const password of ['password', '12345678', 'qwertyuiop', 'mallory@example.com', 'Password1!', 'seckill2026', 'mallory2026']) {
    const r = await http.request('POST', '/api/v1/auth/register', { body: { email: 'mallory@example.com', password } })
    t.equal(r.status, 400, `"${password}" is refused`)
    t.equal(r.body.code, 'WEAK_PASSWORD')
    t.match(r.body.message, /too easy to guess/)
  }
  t.equal(await env.db('users').where({ email: 'mallory@example.com' }).first('id'), undefined, 'no account was created')

  const ok = await http.request('POST', '/api/v1/auth/register', { body: { email: 'mallory@example.com', password: 'copper kettle orbit marsh' } })
  t.equal(ok.status, 201, 'a few unrelated words pass')
  const row = await env.db('users').first('password_hash').where({ email: 'mallory@example.com' }) as { password_hash: string }
  t.match(row.password_hash, /^scrypt\$131072\$8\$1\$/, 'hashed at OWASP\'s scrypt parameters (N=2^17, r=8, p=1)')
})

t.test('a hash made with older parameters is upgraded when its owner signs in', async (t) => {
  const env = await testEnv(t, { RATE_LIMIT_LOGIN: '1000' })
  const { http } = await startTestService(env)
  const old = await hashPassword('copper kettle orbit marsh', { N: 16_384, r: 8, p: 1 })
  t.ok(needsRehash(old), 'an N=2^14 hash needs a rehash')
  await env.db('users').insert({ email: 'old@example.com', password_hash: old, role: 'user' })

  const wrong = await http.request('POST', '/api/v1/auth/login', { body: { email: 'old@example.com', password: 'not the password' } })
  t.equal(wrong.status, 401)
  t.equal((await env.db('users').first('password_hash').where({ email: 'old@example.com' }) as { password_hash: string }).password_hash, old, 'a failed login changes nothing')

  const login = await http.request('POST', '/api/v1/auth/login', { body: { email: 'old@example.com', password: 'copper kettle orbit marsh' } })
  t.equal(login.status, 200, 'the old hash still verifies')
  const upgraded = (await env.db('users').first('password_hash').where({ email: 'old@example.com' }) as { password_hash: string }).password_hash
  t.match(upgraded, /^scrypt\$131072\$8\$1\$/, 'and is stored again at today\'s parameters')
  t.notOk(needsRehash(upgraded))
  const again = await http.request('POST', '/api/v1/auth/login', { body: { email: 'old@example.com', password: 'copper kettle orbit marsh' } })
  t.equal(again.status, 200, 'the upgraded hash verifies')
})

t.test('the admin from the environment and create-admin refuse a guessable password', async (t) => {
  const env = await testEnv(t)
  const users = usersRepository(env.db)
  await t.rejects(ensureAdmin({ users }, 'ops@example.com', 'password123'), WeakPasswordError)
  await t.rejects(setAdmin({ users }, 'ops@example.com', 'ops@example.com'), WeakPasswordError)
  t.equal(await users.findByEmail('ops@example.com'), undefined, 'no account was created')
})

t.test('a stored hash naming absurd parameters is refused, not computed', async (t) => {
  const good = await hashPassword('copper kettle orbit marsh')
  const parts = good.split('$')
  t.notOk(await verifyPassword('copper kettle orbit marsh', ['scrypt', String(2 ** 30), ...parts.slice(2)].join('$')), 'N=2^30 (1 TiB) is not tried')
  t.notOk(await verifyPassword('copper kettle orbit marsh', ['scrypt', 'x', ...parts.slice(2)].join('$')))
  t.ok(await verifyPassword('copper kettle orbit marsh', good))
})
