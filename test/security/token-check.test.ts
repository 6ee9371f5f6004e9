// Issue 35: the crowd's token check (src/http/hs256.ts) skips fast-jwt's general path and its
// cache. It must accept only what fast-jwt accepts, and leave every refusal (and its code) to it.
import t from 'tap'
import { createHmac, randomBytes, randomInt } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import { createHs256Verifier } from '../../src/http/hs256'
import { hs256SignatureCheck } from '../../src/http/hs256-signature'
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

t.test('the signature check (hs256-signature.ts) agrees with createHmac on every key and message length', async (t) => {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.'
  let agreed = 0
  for (const keyLength of [1, 16, 32, 55, 63, 64, 65, 100, 200]) {
    const key = randomBytes(keyLength)
    const check = hs256SignatureCheck(key)
    // Around every block edge: a message of 55/56 bytes (+64 of the pad) needs a second padding block.
    for (let length = 0; length <= 300; length++) {
      let message = ''
      for (let i = 0; i < length; i++) message += alphabet[randomInt(alphabet.length)] as string
      const mac = createHmac('sha256', key).update(message).digest('base64url')
      if (!check(`${message}.${mac}`, length)) t.fail(`key ${keyLength} bytes, message ${length}: refused its own MAC`)
      else agreed++
      // One bit of the MAC changed anywhere: refused.
      const bytes = Buffer.from(mac, 'base64url')
      const bit = randomInt(256)
      bytes[bit >> 3] = (bytes[bit >> 3] as number) ^ (1 << (bit & 7))
      if (check(`${message}.${bytes.toString('base64url')}`, length)) t.fail(`key ${keyLength}, message ${length}: accepted a MAC with bit ${bit} changed`)
    }
  }
  t.equal(agreed, 9 * 301, 'every MAC createHmac made was accepted')
})

t.test('the signature check refuses what is not the canonical base64url of the MAC, or not ASCII', async (t) => {
  const key = randomBytes(32)
  const check = hs256SignatureCheck(key)
  const message = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiJ9'
  const mac = createHmac('sha256', key).update(message).digest('base64url')
  t.ok(check(`${message}.${mac}`, message.length))
  // The last character carries two spare bits: set, the bytes decode the same but the text differs.
  const last = mac.charCodeAt(42)
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const spare = alphabet[alphabet.indexOf(String.fromCharCode(last)) | 1] as string
  t.notOk(check(`${message}.${mac.slice(0, 42)}${spare}`, message.length), 'not canonical')
  t.notOk(check(`${message}.${mac.slice(0, 10)}+${mac.slice(11)}`, message.length), 'a base64 (not base64url) character')
  t.notOk(check(`${message}.${mac}=`, message.length), 'padded')
  t.notOk(check(`${message}.${mac.slice(0, 42)}`, message.length), 'a character short')
  t.notOk(check(`${message}.${mac.slice(0, 20)}\u0100${mac.slice(21)}`, message.length), 'a character outside ASCII in the MAC')
  // A message with a non-ASCII character: createHmac hashes its UTF-8 bytes; the check never accepts it.
  const wide = 'eyJhbGciOiJIUzI1NiJ9.é'
  t.notOk(check(`${wide}.${createHmac('sha256', key).update(wide).digest('base64url')}`, wide.length), 'not ASCII: left to fast-jwt')
})
