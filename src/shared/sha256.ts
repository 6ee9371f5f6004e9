/**
 * SHA-256's compression function and HMAC pad states, for the two places where node:crypto's
 * per-call objects were measured to cost more than the hashing itself: the draw's ranking (a
 * million one-block HMACs, src/sale/allocation/draw-hmac.ts) and the crowd's token check (an HMAC
 * per request, src/http/hs256.ts). Both hash from pad states computed once per key, so a message
 * costs its compressions and no allocation.
 *
 * Never the only witness: each user compares its output with createHmac (in tests, and the draw
 * on a sample of every draw). Message scheduling and padding are the caller's: this file only
 * compresses 16 big-endian words.
 */

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
])
export const SHA256_IV: Readonly<Uint32Array> = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19])

/** One SHA-256 compression of the 16 words at w[0..15] (w has 64 slots) from `from` into `to` (may be `from`). */
export function compress (from: Readonly<Uint32Array>, w: Uint32Array, to: Uint32Array): void {
  for (let i = 16; i < 64; i++) {
    const a = w[i - 15] as number
    const b = w[i - 2] as number
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3)
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10)
    w[i] = ((w[i - 16] as number) + s0 + (w[i - 7] as number) + s1) | 0
  }
  let a = from[0] as number; let b = from[1] as number; let c = from[2] as number; let d = from[3] as number
  let e = from[4] as number; let f = from[5] as number; let g = from[6] as number; let h = from[7] as number
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + (K[i] as number) + (w[i] as number)) | 0
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0
    h = g; g = f; f = e; e = (d + t1) | 0
    d = c; c = b; b = a; a = (t1 + t2) | 0
  }
  to[0] = (from[0] as number) + a; to[1] = (from[1] as number) + b; to[2] = (from[2] as number) + c; to[3] = (from[3] as number) + d
  to[4] = (from[4] as number) + e; to[5] = (from[5] as number) + f; to[6] = (from[6] as number) + g; to[7] = (from[7] as number) + h
}

/**
 * The state after hashing one 64-byte block: the key padded with zeros, each byte XOR `pad`
 * (0x36 inner, 0x5c outer). The key is at most 64 bytes (HMAC hashes a longer key first; the
 * caller does). `w` is scratch of 64 words.
 */
export function padState (key: Uint8Array, pad: number, w: Uint32Array): Uint32Array {
  if (key.length > 64) throw new Error('an HMAC key longer than a block is hashed first')
  for (let i = 0; i < 16; i++) {
    let word = 0
    for (let j = 0; j < 4; j++) word = (word << 8) | (((key[i * 4 + j] ?? 0) ^ pad) & 0xff)
    w[i] = word
  }
  const state = new Uint32Array(8)
  compress(SHA256_IV, w, state)
  return state
}
