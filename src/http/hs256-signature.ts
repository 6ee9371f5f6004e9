/**
 * The HS256 signature check of the crowd's token path (src/http/hs256.ts), hand-written and kept
 * because it was measured to matter (bench/RESULTS.md, "Cost per buy, second round"): node:crypto's
 * createHmac + update + digest cost about 3.6 µs a token here, most of it the objects made per
 * call (the whole token check: 9.2 µs before, 6.0 after); this computes the same MAC from the
 * key's pad states hashed once, with no allocation, and compares it with the token's signature
 * as decoded bytes, in a loop whose length and work do not depend on where they differ.
 *
 * Only ever a reason to accept: a token with a character outside ASCII, a signature that is not
 * 43 canonical base64url characters, or a MAC that differs answers false, and the caller hands
 * the token to fast-jwt. test/security/token-check.test.ts compares it with createHmac.
 */
import { createHash } from 'node:crypto'
import { compress, padState } from '../shared/sha256'

/** base64url's alphabet: a character's six bits, or -1. */
const SIXBITS = new Int8Array(128).fill(-1)
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('').forEach((c, i) => { SIXBITS[c.charCodeAt(0)] = i })

/** A character's six bits, or -1 for a character outside base64url. */
const six = (code: number): number => code < 128 ? SIXBITS[code] as number : -1

/**
 * `check(token, dot)`: whether the 43 characters after `dot` are the base64url (unpadded,
 * canonical) of HMAC-SHA256(secret, token[0..dot)).
 */
export function hs256SignatureCheck (secret: Uint8Array): (token: string, dot: number) => boolean {
  // HMAC hashes a key longer than a block first (RFC 2104).
  const key = secret.length > 64 ? createHash('sha256').update(secret).digest() : secret
  const w = new Uint32Array(64)
  const inner = padState(key, 0x36, w)
  const outer = padState(key, 0x5c, w)
  const state = new Uint32Array(8)
  const tail = new Uint8Array(128)
  const given = new Uint8Array(32)

  /** The words of tail[at..at+63] into w[0..15]. */
  const tailWords = (at: number): void => {
    for (let j = 0; j < 16; j++) {
      const p = at + j * 4
      w[j] = ((tail[p] as number) << 24) | ((tail[p + 1] as number) << 16) | ((tail[p + 2] as number) << 8) | (tail[p + 3] as number)
    }
  }

  /** The signature's 32 bytes into `given`; false when a character is not base64url or it is not canonical. */
  const decode = (token: string, from: number): boolean => {
    let bad = 0
    let out = 0
    for (let g = 0; g < 10; g++) {
      const p = from + g * 4
      const a = six(token.charCodeAt(p))
      const b = six(token.charCodeAt(p + 1))
      const c = six(token.charCodeAt(p + 2))
      const d = six(token.charCodeAt(p + 3))
      bad |= a | b | c | d
      const v = (a << 18) | (b << 12) | (c << 6) | d
      given[out++] = (v >>> 16) & 0xff; given[out++] = (v >>> 8) & 0xff; given[out++] = v & 0xff
    }
    const p = from + 40
    const a = six(token.charCodeAt(p))
    const b = six(token.charCodeAt(p + 1))
    const c = six(token.charCodeAt(p + 2))
    bad |= a | b | c
    const v = (a << 12) | (b << 6) | c
    given[30] = (v >>> 10) & 0xff; given[31] = (v >>> 2) & 0xff
    // Canonical: the last character's two spare bits are zero (as fast-jwt compares the encoded strings).
    return bad >= 0 && (c & 3) === 0
  }

  return (token, dot) => {
    if (token.length !== dot + 44 || !decode(token, dot + 1)) return false
    // Inner hash: the pad block (state `inner`), then the message, then SHA-256's padding.
    state.set(inner)
    let ascii = 0
    let i = 0
    for (; dot - i >= 64; i += 64) {
      for (let j = 0; j < 16; j++) {
        const p = i + j * 4
        const c0 = token.charCodeAt(p); const c1 = token.charCodeAt(p + 1); const c2 = token.charCodeAt(p + 2); const c3 = token.charCodeAt(p + 3)
        ascii |= c0 | c1 | c2 | c3
        w[j] = (c0 << 24) | (c1 << 16) | (c2 << 8) | c3
      }
      compress(state, w, state)
    }
    const rest = dot - i
    for (let k = 0; k < rest; k++) {
      const c = token.charCodeAt(i + k)
      ascii |= c
      tail[k] = c
    }
    // The bytes are the characters only when every one is ASCII (the UTF-8 createHmac would hash).
    if (ascii > 0x7f) return false
    const blocks = rest + 9 > 64 ? 2 : 1
    tail[rest] = 0x80
    tail.fill(0, rest + 1, blocks * 64 - 4)
    const bits = (64 + dot) * 8
    tail[blocks * 64 - 4] = bits >>> 24; tail[blocks * 64 - 3] = (bits >>> 16) & 0xff; tail[blocks * 64 - 2] = (bits >>> 8) & 0xff; tail[blocks * 64 - 1] = bits & 0xff
    tailWords(0); compress(state, w, state)
    if (blocks === 2) { tailWords(64); compress(state, w, state) }
    // Outer hash: the pad block, then the inner digest (32 bytes) in one padded block of 96 bytes' length.
    for (let j = 0; j < 8; j++) w[j] = state[j] as number
    w[8] = 0x80000000; w[9] = 0; w[10] = 0; w[11] = 0; w[12] = 0; w[13] = 0; w[14] = 0; w[15] = 768
    compress(outer, w, state)
    let diff = 0
    for (let k = 0; k < 32; k++) diff |= (given[k] as number) ^ (((state[k >>> 2] as number) >>> (24 - 8 * (k & 3))) & 0xff)
    return diff === 0
  }
}
