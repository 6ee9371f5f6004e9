/**
 * The crowd's token check, cheaper (issue 35): an HS256 JWT in exactly the shape this service signs
 * (header `{"alg":"HS256","typ":"JWT"}`, `sub` and a numeric `exp`, no `nbf`) is checked here with
 * one HMAC (hs256-signature.ts, no node:crypto object per token) and one JSON.parse, and with no
 * cache: a cache lookup (a SHA-256 of the token and an LRU) costs about as much as this check.
 *
 * It only ever accepts: a token it cannot accept on its own (another header, a bad signature,
 * expired, `nbf`, a missing claim, anything unusual) goes to fast-jwt's verifier, which accepts it
 * or throws exactly as before. So what is accepted is a subset of what fast-jwt accepts, and every
 * refusal and its error code are fast-jwt's.
 */
import { hs256SignatureCheck } from './hs256-signature'

/** fast-jwt's HS256 header, base64url, as its signer writes it. */
const HS256_HEADER = Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')

export type Claims = Record<string, unknown>

/** `fallback` judges every token the fast path does not accept (fast-jwt's verifier). */
export function createHs256Verifier (secret: string, fallback: (token: string) => Claims): (token: string) => Claims {
  const signed = hs256SignatureCheck(Buffer.from(secret))
  const accept = (token: string, now: number): Claims | undefined => {
    const first = token.indexOf('.')
    const second = token.indexOf('.', first + 1)
    if (first !== HS256_HEADER.length || second < 0 || token.indexOf('.', second + 1) >= 0) return undefined
    if (!token.startsWith(HS256_HEADER)) return undefined
    // 43 characters: the unpadded, canonical base64url of an HMAC-SHA256, compared as bytes in a
    // loop that does not stop where they differ (hs256-signature.ts).
    if (!signed(token, second)) return undefined
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
