/**
 * Proof of work against bots (issue 34), per sale: before a buy is admitted, the buyer's page
 * has spent a second or two of CPU on a challenge bound to the buyer and the sale. A bot driving
 * a thousand accounts pays a thousand times; a person pays once, while waiting for the start.
 *
 * The challenge is ALTCHA's v2 format with SHA-256 (cost 1, deterministic mode): the service
 * picks a counter n in [1, max_number] and publishes the first 16 bytes of
 * SHA-256(salt || nonce || n as 4 bytes big-endian); the page tries counters from 0 until a digest
 * starts with them (n/2 ≈ max_number/2 tries on average). The parameters, with the sale and the
 * buyer in `data` and `expiresAt`, are signed with HMAC-SHA256 over their canonical JSON. Any
 * ALTCHA v2 solver solves it, and altcha-lib's verifySolution accepts its answers.
 *
 * Why not the packages themselves (altcha 3.2.2, altcha-lib 2.8.0, looked at for this):
 * - the `altcha` widget's default build starts its workers from `data:` URLs and injects its
 *   styles, which the pages' policy refuses (script-src 'self', style-src 'self'; checked in
 *   Chromium by test/security/headers.test.ts); its `external` build needs its worker files and
 *   CSS served apart, and what it shows is a "verify you are human" checkbox, not the progress the
 *   buy page needs while the buyer waits. The page solves in its own Web Worker instead
 *   (src/web/pow-worker.ts, emitted by Vite as a file of this origin), the same challenge.
 * - `altcha-lib` verifies with WebCrypto (a key import and an HMAC per call, each an async hop
 *   through libuv's pool) and checks expiry on this process's clock. On the buy path this module
 *   checks with one synchronous HMAC and one SHA-256 (node:crypto), and expiry is judged in the
 *   admission script on Redis's clock (below). Issuing is a dozen lines; the format is the same.
 *
 * What is checked where:
 * - here, in the ingress, before any Redis call: the header is well formed, the signature is
 *   ours, the challenge names this sale, at the sale's difficulty or harder, and this buyer, and the
 *   solution solves it. A malformed header is refused here (400); an invalid proof is marked so and
 *   refused by the script (403 POW_INVALID) after the answers that need no proof (below), counted
 *   in the buyer's buy rate limit and changing nothing else.
 * - in the admission script (lua/includes/spendProof.lua), in the same round trip as the
 *   admission: a buyer who already holds a ticket gets it back whatever proof they send, or none
 *   (an idempotent resubmit needs no new work; the page reads its ticket on reload with GET
 *   /events/:id/ticket and never buys again), and so does a buyer turned away before (their
 *   sold_out ticket, or their place on the waitlist: I7); otherwise, once the refusals that change
 *   nothing are passed (rate limit, ban, buy token), the proof must be present, not past its
 *   expiry, and not spent, and it is spent on the answer it buys, a place in line or sold_out at
 *   the gate (a key per nonce that expires with the proof, on the same clock that judges the
 *   expiry, so no marker lapses while its proof is still accepted).
 *
 * The key is derived from the service's JWT key (JWT_SECRET, required in production; without it
 * this deployment's own random development secret), never a value the public knows.
 */
import { createHash, createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto'
import type { PowChallenge } from '../shapes/api'
import type { RedisClient } from '../redis/scripts'
import type { ProofSpend } from '../redis/commands'
import { DomainError, badRequest, notFound } from '../shared/errors'
import type { EventCache } from './event-cache'

/**
 * The difficulty `proof_of_work: true` gives a sale, chosen from bench/RESULTS.md ("Proof of
 * work"): at 1,000,000 a phone's browser (Chromium's main thread throttled 4× and 6×) solved in a
 * median of 1.4-2.8 s, at most 4.9 s, while the buyer waits before the start; a bot pays about half
 * a second of a desktop core per buy; the ingress's check costs about 50 µs of CPU per buy whatever
 * the difficulty (bench/pow-cost.ts).
 */
export const POW_DEFAULT_MAX_NUMBER = 1_000_000

/** The header a buy of such a sale carries: base64 of `{challenge, solution}` JSON (ALTCHA's payload). */
export const POW_HEADER = 'x-proof-of-work'

/** The signing key, from the service's JWT key (a derived key: a challenge signature is never a JWT's). */
export function powKeyFrom (jwtSecret: string): string {
  return createHmac('sha256', jwtSecret).update('seckill proof-of-work challenges').digest('base64url')
}

const HEX16 = /^[0-9a-f]{32}$/
const HEX32 = /^[0-9a-f]{64}$/
/** A payload is about 500 characters; anything much longer is not one of ours. */
const MAX_HEADER = 2048

/** SHA-256(salt || nonce || counter as uint32 big-endian): ALTCHA v2's SHA key derivation at cost 1. */
function derive (salt: Buffer, nonce: Buffer, counter: number): Buffer {
  const c = Buffer.allocUnsafe(4)
  c.writeUInt32BE(counter)
  return createHash('sha256').update(salt).update(nonce).update(c).digest()
}

function sign (key: string, parameters: PowChallenge['parameters']): string {
  // Keys in sorted order at every level: the canonical JSON ALTCHA signs.
  const p = parameters
  const canonical = JSON.stringify({
    algorithm: p.algorithm,
    cost: p.cost,
    data: { e: p.data.e, m: p.data.m, u: p.data.u },
    expiresAt: p.expiresAt,
    keyLength: p.keyLength,
    keyPrefix: p.keyPrefix,
    nonce: p.nonce,
    salt: p.salt
  })
  return createHmac('sha256', key).update(canonical).digest('hex')
}

/** A new challenge for one buyer of one sale, expiring at `expiresAtMs` (rounded down to the second). */
export function createChallenge (key: string, eventId: number, userId: string, maxNumber: number, expiresAtMs: number): PowChallenge {
  const salt = randomBytes(16)
  const nonce = randomBytes(16)
  const derived = derive(salt, nonce, randomInt(1, maxNumber + 1))
  const parameters: PowChallenge['parameters'] = {
    algorithm: 'SHA-256',
    cost: 1,
    data: { e: eventId, m: maxNumber, u: userId },
    expiresAt: Math.floor(expiresAtMs / 1000),
    keyLength: 32,
    keyPrefix: derived.subarray(0, 16).toString('hex'),
    nonce: nonce.toString('hex'),
    salt: salt.toString('hex')
  }
  return { parameters, signature: sign(key, parameters) }
}

const malformed = (why: string): DomainError => badRequest(`X-Proof-Of-Work is malformed: ${why}`)
const invalid = (why: string): DomainError => new DomainError('POW_INVALID', `the proof of work is refused: ${why}; solve a new challenge (GET /api/v1/events/:id/challenge)`)

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function exactKeys (o: Record<string, unknown>, keys: readonly string[]): boolean {
  const own = Object.keys(o)
  return own.length === keys.length && keys.every((k) => Object.hasOwn(o, k))
}

/** The payload's parts, shape-checked (a 400 names what is wrong). */
function parse (header: string): { parameters: PowChallenge['parameters'], signature: string, counter: number, derivedKey: string } {
  if (header.length > MAX_HEADER) throw malformed('too long')
  let payload: unknown
  try {
    payload = JSON.parse(Buffer.from(header, 'base64').toString('utf8'))
  } catch {
    throw malformed('not base64 of JSON')
  }
  if (!isObject(payload) || !isObject(payload.challenge) || !isObject(payload.solution)) throw malformed('expected {challenge, solution}')
  const { challenge, solution } = payload
  const p = challenge.parameters
  if (!isObject(p) || !exactKeys(p, ['algorithm', 'cost', 'data', 'expiresAt', 'keyLength', 'keyPrefix', 'nonce', 'salt']) ||
    p.algorithm !== 'SHA-256' || p.cost !== 1 || p.keyLength !== 32 || !Number.isSafeInteger(p.expiresAt) ||
    typeof p.keyPrefix !== 'string' || !HEX16.test(p.keyPrefix) || typeof p.nonce !== 'string' || !HEX16.test(p.nonce) ||
    typeof p.salt !== 'string' || !HEX16.test(p.salt) || !isObject(p.data) || !exactKeys(p.data, ['e', 'm', 'u']) ||
    !Number.isSafeInteger(p.data.e) || !Number.isSafeInteger(p.data.m) || typeof p.data.u !== 'string') {
    throw malformed('the challenge is not one this service issues')
  }
  if (typeof challenge.signature !== 'string' || !HEX32.test(challenge.signature)) throw malformed('the challenge\'s signature is not 64 hex digits')
  const { counter, derivedKey } = solution
  if (typeof counter !== 'number' || !Number.isInteger(counter) || counter < 0 || counter > 0xffffffff) throw malformed('solution.counter is not an integer from 0 to 2^32 - 1')
  if (typeof derivedKey !== 'string' || !HEX32.test(derivedKey)) throw malformed('solution.derivedKey is not 64 hex digits')
  return { parameters: p as PowChallenge['parameters'], signature: challenge.signature, counter, derivedKey }
}

/**
 * Checks a buyer's X-Proof-Of-Work for a sale: signed by this service, for this sale, at the sale's
 * difficulty (`maxNumber`, its pow_max_number now) or harder, for this buyer, and solved. Throws 400
 * (malformed) or 403 POW_INVALID (which failed); expiry and single use are the admission script's
 * (see above). A challenge signs the difficulty it was issued at (data.m), so raising the sale's
 * difficulty refuses the cheaper challenges handed out before.
 */
export function checkProof (key: string, header: string, eventId: number, userId: string, maxNumber: number): ProofSpend {
  const { parameters: p, signature, counter, derivedKey } = parse(header)
  if (!timingSafeEqual(Buffer.from(sign(key, p), 'hex'), Buffer.from(signature, 'hex'))) throw invalid('its challenge was not issued by this service, or was changed')
  if (p.data.e !== eventId) throw invalid('its challenge is for another sale')
  if (p.data.m < maxNumber) throw invalid('its challenge is easier than the sale\'s difficulty, raised since it was issued')
  if (p.data.u !== userId) throw invalid('its challenge was issued to another buyer')
  const derived = derive(Buffer.from(p.salt, 'hex'), Buffer.from(p.nonce, 'hex'), counter)
  if (derived.toString('hex') !== derivedKey || !derived.subarray(0, 16).equals(Buffer.from(p.keyPrefix, 'hex'))) {
    throw invalid('the solution does not solve its challenge')
  }
  return { id: p.nonce, expiresAtMs: p.expiresAt * 1000 }
}

export interface ChallengeDeps {
  readonly redis: RedisClient
  readonly events: EventCache
  /** The signing key (powKeyFrom). */
  readonly key: string
  /** Challenges are issued from this long before the start. */
  readonly leadMs: number
  /** A proof is accepted this long after the start (or after its challenge was issued, during the sale). */
  readonly ttlMs: number
}

/**
 * A challenge for the buyer of a sale that needs proofs, from `leadMs` before its start (the page
 * solves while the buyer waits) to its end. Its expiry is read on Redis's clock, the clock the
 * admission script judges it by.
 */
export async function issueChallenge (deps: ChallengeDeps, eventId: number, userId: string): Promise<PowChallenge> {
  const cached = await deps.events.get(eventId)
  if (cached === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
  const { event } = cached
  const maxNumber = event.powMaxNumber
  if (maxNumber === null || maxNumber === undefined) throw new DomainError('POW_NOT_AVAILABLE', 'this sale needs no proof of work')
  const [seconds, micros] = await deps.redis.time()
  const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
  if (now < event.startAt.getTime() - deps.leadMs) {
    throw new DomainError('POW_NOT_AVAILABLE', `challenges are issued from ${Math.ceil(deps.leadMs / 1000)} s before the start`)
  }
  if (now >= event.endAt.getTime()) throw new DomainError('EVENT_ENDED', 'the sale has ended')
  return createChallenge(deps.key, event.id, userId, maxNumber, Math.max(now, event.startAt.getTime()) + deps.ttlMs)
}

export interface PowSolution { readonly counter: number, readonly derivedKey: string }

/**
 * Solves a challenge in this process, trying counters from 0 (the tests' and the benches' solver;
 * the buyer page solves in src/web/pow-solver.ts).
 */
export function solveChallenge (challenge: PowChallenge, limit = 0xffffffff): PowSolution {
  const salt = Buffer.from(challenge.parameters.salt, 'hex')
  const nonce = Buffer.from(challenge.parameters.nonce, 'hex')
  const prefix = Buffer.from(challenge.parameters.keyPrefix, 'hex')
  for (let n = 0; n <= limit; n++) {
    const d = derive(salt, nonce, n)
    if (d.subarray(0, prefix.length).equals(prefix)) return { counter: n, derivedKey: d.toString('hex') }
  }
  throw new Error('no counter up to the limit solves the challenge')
}

/** The X-Proof-Of-Work header of a solved challenge: base64 of `{challenge, solution}` JSON. */
export function proofHeaderOf (challenge: PowChallenge, solution: PowSolution): string {
  return Buffer.from(JSON.stringify({ challenge, solution })).toString('base64')
}
