/**
 * The crowd's token check, cheaper (issue 35): an HS256 JWT in exactly the shape this service signs
 * (header `{"alg":"HS256","typ":"JWT"}`, `sub` and a numeric `exp`, no `nbf`) is checked here with
 * one HMAC and one JSON.parse, about half of fast-jwt's general path, and with no cache: a cache
 * lookup (a SHA-256 of the token and an LRU) costs about as much as this check itself.
 *
 * It only ever accepts: a token it cannot accept on its own (another header, a bad signature,
 * expired, `nbf`, a missing claim, anything unusual) goes to fast-jwt's verifier, which accepts it
 * or throws exactly as before. So what is accepted is a subset of what fast-jwt accepts, and every
 * refusal and its error code are fast-jwt's.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'

/** fast-jwt's HS256 header, base64url, as its signer writes it. */
const HS256_HEADER = Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')

export type Claims = Record<string, unknown>

/** `fallback` judges every token the fast path does not accept (fast-jwt's verifier). */
export function createHs256Verifier (secret: string, fallback: (token: string) => Claims): (token: string) => Claims {
  const key = Buffer.from(secret)
  const accept = (token: string, now: number): Claims | undefined => {
    const first = token.indexOf('.')
    const second = token.indexOf('.', first + 1)
    if (first !== HS256_HEADER.length || second < 0 || token.indexOf('.', second + 1) >= 0) return undefined
    if (!token.startsWith(HS256_HEADER)) return undefined
    // 43 characters: the unpadded base64url of an HMAC-SHA256. Compared as bytes in constant time;
    // the encoding checked canonical, as fast-jwt compares the encoded strings.
    const encoded = token.slice(second + 1)
    if (encoded.length !== 43) return undefined
    const given = Buffer.from(encoded, 'base64url')
    if (given.length !== 32 || !timingSafeEqual(given, createHmac('sha256', key).update(token.slice(0, second)).digest())) return undefined
    if (given.toString('base64url') !== encoded) return undefined
    let claims: unknown
    try {
      claims = JSON.parse(Buffer.from(token.slice(first + 1, second), 'base64url').toString('utf8'))
    } catch {
      return undefined
    }
    if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) return undefined
    const c = claims as Claims
    if (!('sub' in c) || 'nbf' in c || typeof c.exp !== 'number' || now > c.exp * 1000) return undefined
    return c
  }
  return (token) => accept(token, Date.now()) ?? fallback(token)
}
