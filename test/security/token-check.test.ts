// Issue 35: the crowd's token check (src/http/hs256.ts) skips fast-jwt's general path and its
// cache. It must accept only what fast-jwt accepts, and leave every refusal (and its code) to it.
import t from 'tap'
import { createHmac } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import { createHs256Verifier } from '../../src/http/hs256'
import { createTokenSigner } from '../../src/http/auth'

const SECRET = 'token-check-secret-token-check-secret-0123'
const slow = createVerifier({ key: SECRET, algorithms: ['HS256'], requiredClaims: ['sub', 'exp'] })

/** The fast verifier, noting whether it asked fast-jwt. */
function verifier (): { verify: (token: string) => Record<string, unknown>, fellBack: () => number } {
  let fallbacks = 0
  const verify = createHs256Verifier(SECRET, (token) => { fallbacks++; return slow(token) })
  return { verify, fellBack: () => fallbacks }
}

function codeOf (f: () => unknown): string | undefined {
  try {
    f()
    return undefined
  } catch (err) {
    return (err as { code?: string }).code ?? 'thrown'
  }
}

/** A token signed with SECRET over any header and payload (for shapes fast-jwt's signer will not make). */
function forge (header: object, payload: object, secret = SECRET): string {
  const h = Buffer.from(JSON.stringify(header)).toString('base64url')
  const p = Buffer.from(JSON.stringify(payload)).toString('base64url')
  return `${h}.${p}.${createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url')}`
}

t.test('a token the service signed is accepted without fast-jwt, with the same claims', async (t) => {
  const { verify, fellBack } = verifier()
  const token = createTokenSigner(SECRET)({ id: '42', role: 'user', sessionGen: 3, family: 'abcdefghijklmnop', emailVerified: true })
  t.same(verify(token), slow(token))
  t.equal(fellBack(), 0)
})

t.test('every refusal is fast-jwt\'s, with its code', async (t) => {
  const now = Math.floor(Date.now() / 1000)
  const signed = createTokenSigner(SECRET)({ id: '42', role: 'user' })
  const [h, p, s] = signed.split('.') as [string, string, string]
  const cases: Array<[string, string]> = [
    ['expired', createSigner({ key: SECRET, algorithm: 'HS256', expiresIn: 3_600_000, clockTimestamp: Date.now() - 7_200_000 })({ sub: '42' })],
    ['signed with another secret', createTokenSigner('another-secret-another-secret-another-0123')({ id: '42', role: 'user' })],
    ['payload changed after signing', `${h}.${Buffer.from(JSON.stringify({ sub: '1', role: 'admin', exp: now + 3600 })).toString('base64url')}.${s}`],
    ['signature cut', `${h}.${p}.${s.slice(0, -2)}`],
    ['a fourth segment', `${signed}.x`],
    ['no signature', `${h}.${p}.`],
    ['alg none', `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${p}.`],
    ['not active yet (nbf)', forge({ alg: 'HS256', typ: 'JWT' }, { sub: '42', exp: now + 3600, nbf: now + 600 })],
    ['exp not a number', forge({ alg: 'HS256', typ: 'JWT' }, { sub: '42', exp: String(now + 3600) })],
    ['no exp', forge({ alg: 'HS256', typ: 'JWT' }, { sub: '42' })],
    ['no sub', forge({ alg: 'HS256', typ: 'JWT' }, { exp: now + 3600 })],
    ['payload not an object', forge({ alg: 'HS256', typ: 'JWT' }, [42])],
    ['not a JWT', 'garbage']
  ]
  for (const [what, token] of cases) {
    const { verify, fellBack } = verifier()
    const expected = codeOf(() => slow(token))
    t.not(expected, undefined, `${what}: fast-jwt refuses it`)
    t.equal(codeOf(() => verify(token)), expected, `${what}: refused with fast-jwt's code ${expected ?? ''}`)
    t.equal(fellBack(), 1, `${what}: judged by fast-jwt`)
  }
})

t.test('a valid token in another shape is still accepted, by fast-jwt', async (t) => {
  const { verify, fellBack } = verifier()
  const now = Math.floor(Date.now() / 1000)
  const token = forge({ typ: 'JWT', alg: 'HS256' }, { sub: '42', exp: now + 3600, nbf: now - 60 })
  t.same(verify(token), slow(token))
  t.equal(fellBack(), 1)
})
