/**
 * Admission: turns a buy request into a ticket. The checks every sale makes (window, verified
 * email, the ingress's sold-out memory) are here; the sale's allocation policy decides the rest
 * (src/sale/allocation/: first come, first served costs one Redis round trip, lua/admitBuyer); a
 * sold-out event costs none.
 */
import { randomBytes } from 'node:crypto'
import type { KeySpace } from '../redis/keys'
import type { RedisClient } from '../redis/scripts'
import { DomainError, notFound } from '../shared/errors'
import type { CachedEvent, EventCache } from './event-cache'
import { windowStatus } from '../catalog'
import { rejectedTicketId, shardOf } from '../shared/ticket-ids'
import { policyFor } from './allocation'
import type { AdmissionDeps, Buyer, BuyOutcome } from './admission-deps'
import type { ProofSpend } from '../redis/commands'
import { checkProof } from './proof-of-work'
import type { TicketView } from './tickets'

export type { AdmissionDeps, Buyer, BuyOutcome } from './admission-deps'

/**
 * How far this ingress's clock may be from Redis's before a buy before a lead window is refused
 * here rather than by the admission script (which judges the opening on Redis's TIME): a slow
 * clock by less than this never refuses a buyer inside the window.
 */
export const OPENING_SKEW_MS = 60_000

/**
 * The answer for a buyer of an event this ingress remembers as sold out, who holds no ticket:
 * sold_out, with the same ticket id the gate gives, once Redis has recorded it with the shard's
 * gate closed (src/sale/sold-out-answers.ts). Undefined when the answer needs admission (the
 * memory is not the last word: the sale may have reopened since).
 */
export async function answerFromMemory (deps: Pick<AdmissionDeps, 'soldOutAnswers' | 'onOutcome'>, cached: CachedEvent, userId: string, now: number): Promise<TicketView | undefined> {
  if (cached.holders === undefined || cached.holders.has(userId)) return undefined
  // A turned-away buyer of a waitlist sale joins the waitlist: only admission puts them there.
  if (cached.event.waitlist === true) return undefined
  if (windowStatus(cached.event, now) !== 'active') return undefined
  const shard = shardOf(userId, cached.event.shards)
  if (!await deps.soldOutAnswers.confirm(cached.event.id, shard, userId)) return undefined
  deps.onOutcome?.('sold_out_local')
  return { ticket_id: rejectedTicketId(cached.event.id, shard, userId), status: 'sold_out' }
}

export async function buy (deps: AdmissionDeps, eventId: number, who: Buyer | string, buyToken?: string, now = Date.now()): Promise<BuyOutcome> {
  const buyer: Buyer = typeof who === 'string' ? { id: who } : who
  const userId = buyer.id
  const cached = await deps.events.get(eventId)
  if (cached === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
  const { event } = cached
  const policy = policyFor(event)
  const window = windowStatus(event, now)
  // A sale that takes entries before its start (policy.opensAt) has its opening judged in the
  // admission script on Redis's TIME, as its close is: this ingress's clock, if slow, would refuse
  // buyers inside the window, and if fast, admit them before it.
  if (window === 'upcoming' && policy.opensAt === undefined) throw new DomainError('EVENT_NOT_STARTED', 'the sale has not started')
  // But a buy sent so early that no clock within OPENING_SKEW_MS of this one could call the window
  // open is answered here: the script would refuse it too, after a Redis round trip that counts
  // nothing, not even the rate limit, so a client could keep Redis busy for days before a sale.
  if (window === 'upcoming' && policy.opensAt !== undefined && now < policy.opensAt(event) - OPENING_SKEW_MS) {
    throw new DomainError('EVENT_NOT_STARTED', 'the sale has not started')
  }
  if (window === 'ended') throw new DomainError('EVENT_ENDED', 'the sale has ended')
  // From the token's claim and the cached row: no round trip (a verified buyer signs in again,
  // or refreshes, to get a token that says so).
  if (event.requireVerifiedEmail === true && buyer.emailVerified !== true) {
    throw new DomainError('EMAIL_NOT_VERIFIED', 'this sale is for buyers with a verified email: verify it (POST /api/v1/me/email/send-code), then sign in again')
  }

  const local = await answerFromMemory(deps, cached, userId, now)
  if (local !== undefined) return { kind: 'final', ticket: local }

  // A sale without proof of work reads one field here and nothing else.
  if (event.powMaxNumber !== null && event.powMaxNumber !== undefined) {
    return await policy.admit(deps, event, { ...buyer, proof: provenBy(deps, event.id, event.powMaxNumber, buyer) }, buyToken, now)
  }
  return await policy.admit(deps, event, buyer, buyToken, now)
}

/**
 * The buyer's proof of work, checked in this process before any Redis call; null when none was
 * sent, and marked refused when the check says POW_INVALID (a malformed header is a 400 here).
 * The admission script judges both after a ticket holder's and a turned-away buyer's answers, and
 * expiry and single use (src/sale/proof-of-work.ts).
 */
function provenBy (deps: AdmissionDeps, eventId: number, maxNumber: number, buyer: Buyer): ProofSpend | null {
  if (deps.powKey === undefined) throw new DomainError('INTERNAL', 'this ingress has no proof-of-work key')
  if (buyer.proofOfWork === undefined || buyer.proofOfWork === '') return null
  try {
    return checkProof(deps.powKey, buyer.proofOfWork, eventId, buyer.id, maxNumber)
  } catch (err) {
    // Refused (not ours, another sale's or buyer's, too easy, unsolved): the script refuses it only
    // after a ticket holder's and a turned-away buyer's answers, which need no proof (R4, I7).
    if (err instanceof DomainError && err.code === 'POW_INVALID') return { id: '!', expiresAtMs: 0, refused: err.message }
    throw err
  }
}

export interface BuyTokenDeps {
  readonly redis: RedisClient
  readonly keys: KeySpace
  readonly events: EventCache
  /** Tokens are issued from this long before the start. */
  readonly leadMs: number
  /** A token stays valid this long after the start (or after it was issued, during the sale). */
  readonly ttlMs: number
}

/**
 * Issues the buyer's single-use buy token for a sale that requires one, only shortly before and
 * during the sale: bots cannot stock up on tokens ahead of time. A new token replaces the last.
 */
export async function issueBuyToken (deps: BuyTokenDeps, eventId: number, userId: string, now = Date.now()): Promise<{ token: string, expires_at: string }> {
  const cached = await deps.events.get(eventId)
  if (cached === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
  const { event } = cached
  if (!event.requireToken) throw new DomainError('BUY_TOKEN_NOT_AVAILABLE', 'this sale needs no buy token')
  // From the token lead before the buys open (a randomized start's lead window opens them early).
  const opensAt = policyFor(event).opensAt?.(event) ?? event.startAt.getTime()
  if (now < opensAt - deps.leadMs) throw new DomainError('BUY_TOKEN_NOT_AVAILABLE', 'buy tokens are issued shortly before the start')
  if (now >= event.endAt.getTime()) throw new DomainError('EVENT_ENDED', 'the sale has ended')
  const token = randomBytes(16).toString('base64url')
  const expiresAt = Math.max(now, Math.min(opensAt, event.startAt.getTime())) + deps.ttlMs
  const k = deps.keys.shard({ eventId: event.id, shard: shardOf(userId, event.shards) })
  await deps.redis.hset(k.buyTokens, userId, `${token}:${expiresAt}`)
  await deps.redis.pexpireat(k.buyTokens, event.endAt.getTime() + 3_600_000)
  return { token, expires_at: new Date(expiresAt).toISOString() }
}
