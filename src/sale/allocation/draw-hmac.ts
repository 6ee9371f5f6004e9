/**
 * HMAC-SHA256(seed, entry id) for the draw's ranking, a million at a time. Hand-written, kept
 * because it was measured to matter: node:crypto's createHmac costs about 3.8 µs a call here (a
 * million entries: 3.8 s, most of a draw's 10 s budget), nearly all of it the object created per
 * call; this computes the same bytes in about 0.5 µs, because an entry id is one SHA-256 block
 * (32 ASCII hex digits) and the key's inner and outer pads are hashed once per draw, so each
 * entry costs two compressions and no allocation.
 *
 * It must never be the only witness of a result: test/allocation/draw.test.ts compares it with
 * createHmac over many random seeds and ids, and draw.ts checks a sample of every draw (and its
 * whole head) against createHmac and refuses a draw where they differ.
 *
 * Only for 32-character ASCII messages (an entry id, checked by the caller) and a 32-byte key.
 * The compression and the pad states are src/shared/sha256.ts's, shared with the token check.
 */

import { compress, padState } from '../../shared/sha256'

/**
 * A keyed hasher: `into(id, out, at)` writes HMAC-SHA256(key, id) as eight big-endian 32-bit
 * words at out[at..at+7]. `id` must be 32 ASCII characters.
 */
export function entryHasher (key: Uint8Array): (id: string, out: Uint32Array, at: number) => void {
  if (key.length !== 32) throw new Error('the draw key is 32 bytes')
  const w = new Uint32Array(64)
  const inner = padState(key, 0x36, w)
  const outer = padState(key, 0x5c, w)
  const mid = new Uint32Array(8)
  const end = new Uint32Array(8)
  return (id, out, at) => {
    for (let i = 0; i < 8; i++) {
      const p = i * 4
      w[i] = (id.charCodeAt(p) << 24) | (id.charCodeAt(p + 1) << 16) | (id.charCodeAt(p + 2) << 8) | id.charCodeAt(p + 3)
    }
    // One block: the 32 bytes, 0x80, zeros, and the length in bits of pad block + message (96 bytes).
    w[8] = 0x80000000; w[9] = 0; w[10] = 0; w[11] = 0; w[12] = 0; w[13] = 0; w[14] = 0; w[15] = 768
    compress(inner, w, mid)
    for (let i = 0; i < 8; i++) w[i] = mid[i] as number
    w[8] = 0x80000000; w[9] = 0; w[10] = 0; w[11] = 0; w[12] = 0; w[13] = 0; w[14] = 0; w[15] = 768
    compress(outer, w, end)
    for (let i = 0; i < 8; i++) out[at + i] = end[i] as number
  }
}
