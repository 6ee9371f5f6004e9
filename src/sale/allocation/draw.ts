/**
 * The draw that `mode: "draw"` sales will run at the close of entries, as a function anyone can
 * check: when entries open the sale publishes a commitment, SHA-256 of a secret 32-byte seed; at
 * the close it reveals the seed; the entries are ranked by HMAC-SHA256(seed, entry id), lowest
 * first; the first `units` win and the rest are runners-up, in that order, for units that come
 * back. The README's recomputation script does the same in a few lines
 * (test/allocation/draw.test.ts runs it against this module).
 *
 * An entry id is a random 128-bit value given to the buyer when they enter (never derived from
 * the buyer's id, so the published list names nobody). Pure functions only: storing entries,
 * closing the window and writing the winners' orders are the policy's (draw-sale.ts,
 * start-placement.ts).
 *
 * What the commitment does not stop: whoever knows the seed before the close could add entries
 * whose HMAC ranks first. A public randomness beacon mixed into the seed after the close would.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { setImmediate } from 'node:timers/promises'
import { entryHasher } from './draw-hmac'

const SEED_BYTES = 32
const SEED = /^[0-9a-f]{64}$/
const ENTRY = /^[0-9a-f]{32}$/

/** A new secret seed, hex. */
export function newDrawSeed (): string {
  return randomBytes(SEED_BYTES).toString('hex')
}

/** A new entry id, hex (what a buyer is told when they enter, and what the draw's list shows). */
export function newEntryId (): string {
  return randomBytes(16).toString('hex')
}

/** The published commitment to a seed: SHA-256 of the seed's bytes, hex. */
export function commitmentOf (seed: string): string {
  return createHash('sha256').update(seedBytes(seed)).digest('hex')
}

/** An entry's draw key: HMAC-SHA256 keyed with the seed's bytes over the entry id's text, hex. */
export function drawKey (seed: string, entryId: string): string {
  return createHmac('sha256', seedBytes(seed)).update(entryId).digest('hex')
}

export interface DrawResult {
  /** Entry ids in drawn order: the first `units` won, the rest are runners-up in this order. */
  readonly order: readonly string[]
  readonly winners: readonly string[]
}

/**
 * Ranks the entries by draw key (ties, which SHA-256 makes unheard of, by entry id). Entry ids
 * must be distinct and well formed: a repeated or malformed one is an error, never a silent skip.
 */
export function draw (seed: string, entryIds: readonly string[], units: number): DrawResult {
  const ranking = rank(seed, entryIds, units)
  let step = ranking.next()
  while (step.done !== true) step = ranking.next()
  return step.value
}

/** Entries ranked between two turns of the event loop by drawYielding: about 50 ms of a core. */
export const DRAW_SLICE = 10_000

/**
 * draw, giving the event loop a turn after every `slice` entries: the same result. For the
 * shard's owner, whose lease is renewed by a timer on the same loop: a million entries are several
 * seconds of HMACs, longer than a lease (LEASE_MS), and a draw run in one go let the lease lapse,
 * so the placement's first chunk was refused and the owner drew again, for ever.
 */
export async function drawYielding (seed: string, entryIds: readonly string[], units: number, slice = DRAW_SLICE): Promise<DrawResult> {
  const ranking = rank(seed, entryIds, units, slice)
  let step = ranking.next()
  while (step.done !== true) {
    await setImmediate()
    step = ranking.next()
  }
  return step.value
}

/** Entries ranked at most (the index sits below the key's first 29 bits in a float64: 53 bits). */
const MAX_RANKED = 2 ** 24
/** Entries whose key is checked against node:crypto: the head of the order (winners and the first runners-up), and one in SAMPLE_EVERY of the rest. */
const VERIFIED_HEAD = 1_000
const SAMPLE_EVERY = 1_000

/** The ranking, pausing (yield) after every `slice` entries keyed. */
function * rank (seed: string, entryIds: readonly string[], units: number, slice = Infinity): Generator<undefined, DrawResult> {
  const key = seedBytes(seed)
  const n = entryIds.length
  if (n > MAX_RANKED) throw new Error(`a draw ranks at most ${MAX_RANKED} entries, not ${n}`)
  // Every key's eight words side by side (draw-hmac.ts: no allocation per entry), and the first
  // 29 bits of each key with the entry's index below them, sorted as numbers (natively, no
  // comparator called a million times); entries whose first 29 bits tie are then put in order by
  // their whole key (and id). Same order as sorting the hex keys.
  const words = new Uint32Array(n * 8)
  const packed = new Float64Array(n)
  const hash = entryHasher(key)
  for (let i = 0; i < n; i++) {
    const id = entryIds[i] as string
    if (!ENTRY.test(id)) throw new Error(`entry id ${JSON.stringify(id)} is not 32 hex digits`)
    hash(id, words, i * 8)
    packed[i] = ((words[i * 8] as number) >>> 3) * MAX_RANKED + i
    if ((i + 1) % slice === 0) yield
  }
  packed.sort()
  const compare = (a: number, b: number): number => {
    for (let j = 0; j < 8; j++) {
      const x = words[a * 8 + j] as number
      const y = words[b * 8 + j] as number
      if (x !== y) return x < y ? -1 : 1
    }
    const ia = entryIds[a] as string
    const ib = entryIds[b] as string
    if (ia === ib) throw new Error(`entry id ${ia} appears twice`)
    return ia < ib ? -1 : 1
  }
  const ranked = new Int32Array(n)
  for (let start = 0; start < n;) {
    const high = Math.floor((packed[start] as number) / MAX_RANKED)
    let end = start + 1
    while (end < n && Math.floor((packed[end] as number) / MAX_RANKED) === high) end++
    if (end - start === 1) {
      ranked[start] = (packed[start] as number) % MAX_RANKED
    } else {
      const run = Array.from(packed.subarray(start, end), (p) => p % MAX_RANKED)
      run.sort(compare)
      ranked.set(run, start)
    }
    start = end
  }
  verify(seed, ranked, words, entryIds)
  const order = Array.from(ranked, (i) => entryIds[i] as string)
  return { order, winners: order.slice(0, Math.max(0, units)) }
}

/**
 * The hand-written HMAC against node:crypto's, on the head of the order and a sample of the
 * rest: a draw whose keys differ is refused, never published.
 */
function verify (seed: string, ranked: Int32Array, words: Uint32Array, entryIds: readonly string[]): void {
  const check = (i: number): void => {
    const id = entryIds[i] as string
    const expected = drawKey(seed, id)
    let got = ''
    for (let j = 0; j < 8; j++) got += (words[i * 8 + j] as number).toString(16).padStart(8, '0')
    if (got !== expected) throw new Error(`the draw key of entry ${id} is ${got}, node:crypto says ${expected}`)
  }
  for (let r = 0; r < Math.min(VERIFIED_HEAD, ranked.length); r++) check(ranked[r] as number)
  for (let i = 0; i < entryIds.length; i += SAMPLE_EVERY) check(i)
}

function seedBytes (seed: string): Buffer {
  if (!SEED.test(seed)) throw new Error('a draw seed is 64 lowercase hex digits')
  return Buffer.from(seed, 'hex')
}
