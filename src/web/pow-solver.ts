/**
 * Solves the service's proof-of-work challenges (src/sale/proof-of-work.ts: ALTCHA's v2 format,
 * SHA-256, cost 1): the counter n for which SHA-256(salt || nonce || n as 4 bytes big-endian)
 * starts with the challenge's key prefix. The message is 36 bytes, one SHA-256 block, so the hash
 * is written out here for that block alone, synchronously: crypto.subtle.digest costs a promise
 * per try, several times the hash itself. The first eight rounds read only the salt and the nonce,
 * so they run once per challenge, not once per try.
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
const H = new Uint32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19])

export interface PowTask {
  /** Hex, 16 bytes each. */
  readonly salt: string
  readonly nonce: string
  /** Hex: the first bytes the digest must have (16 in the service's challenges). */
  readonly keyPrefix: string
  /** The largest counter tried. */
  readonly maxNumber: number
}

export interface PowAnswer { readonly counter: number, readonly derivedKey: string }

function words (hex: string): number[] {
  const out: number[] = []
  for (let i = 0; i < hex.length; i += 8) out.push(parseInt(hex.slice(i, i + 8).padEnd(8, '0'), 16) >>> 0)
  return out
}

const rotr = (x: number, n: number): number => (x >>> n) | (x << (32 - n))

/**
 * Tries counters from `from` to the task's maxNumber; calls `progress(tried)` every `every` tries
 * (return false there to stop). The answer, or undefined when none was found (or it stopped).
 */
export function solvePow (task: PowTask, progress: (tried: number) => boolean, every = 50_000, from = 0): PowAnswer | undefined {
  const fixed = [...words(task.salt), ...words(task.nonce)]
  if (fixed.length !== 8 || !/^(?:[0-9a-f]{8})+$/.test(task.keyPrefix)) throw new Error('not a challenge this page can solve')
  const want = words(task.keyPrefix)
  const first = want[0] as number
  const W = new Uint32Array(64)
  for (let i = 0; i < 8; i++) W[i] = fixed[i] as number
  W[9] = 0x80000000
  W[15] = 36 * 8
  // The state after rounds 0-7, which read W[0..7] only.
  let a = H[0] as number; let b = H[1] as number; let c = H[2] as number; let d = H[3] as number
  let e = H[4] as number; let f = H[5] as number; let g = H[6] as number; let h = H[7] as number
  for (let i = 0; i < 8; i++) {
    const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + (K[i] as number) + (W[i] as number)) | 0
    const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0
    h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0
  }
  const mid = [a, b, c, d, e, f, g, h]
  for (let n = from; n <= task.maxNumber; n++) {
    if (n > from && (n - from) % every === 0 && !progress(n - from)) return undefined
    W[8] = n
    for (let i = 16; i < 64; i++) {
      const w15 = W[i - 15] as number
      const w2 = W[i - 2] as number
      W[i] = ((W[i - 16] as number) + (rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >>> 3)) + (W[i - 7] as number) + (rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >>> 10))) | 0
    }
    a = mid[0] as number; b = mid[1] as number; c = mid[2] as number; d = mid[3] as number
    e = mid[4] as number; f = mid[5] as number; g = mid[6] as number; h = mid[7] as number
    for (let i = 8; i < 64; i++) {
      const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + (K[i] as number) + (W[i] as number)) | 0
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0
    }
    // Almost every try fails on the first word: the rest is looked at only when it matches.
    if ((((a + (H[0] as number)) | 0) >>> 0) !== first) continue
    const out = [a, b, c, d, e, f, g, h].map((x, i) => ((x + (H[i] as number)) | 0) >>> 0)
    if (want.every((x, i) => out[i] === x)) return { counter: n, derivedKey: out.map((x) => x.toString(16).padStart(8, '0')).join('') }
  }
  return undefined
}
