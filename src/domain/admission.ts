/**
 * Admission: turns a buy request into a ticket. One Redis round trip decides and, for an admitted
 * ticket, adds its job to the shard's BullMQ queue (lua/admitBuyer); a sold-out event costs none.
 */
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { KeySpace } from '../redis/keys'
import type { RedisClient } from '../redis/scripts'
import { Admit, admitBuyer, resetMovedShard } from '../redis/commands'
import type { AdmitTarget, BuyRateLimit } from '../redis/commands'
import { DomainError, notFound } from './errors'
import type { CachedEvent, EventCache } from './event-cache'
import { windowStatus } from './events'
import type { EventsRepository } from './events'
import { warmEvent } from './sale-state'
import type { RejectionLog } from './rejection-log'
import { parseStoredTicket, queuedTicketId, rejectedTicketId, shardOf, ticketIdPrefix, ticketView } from './tickets'
import type { TicketView } from './tickets'

export interface AdmissionDeps {
  readonly redis: RedisClient
  readonly keys: KeySpace
  readonly events: EventCache
  readonly repo: EventsRepository
  readonly overbook: number
  /** A buyer's buys per window of one event, counted by the admission script. */
  readonly rateLimit: BuyRateLimit
  readonly log: Logger
  /** Remembers buyers answered from the local sold-out flag. */
  readonly rejections: RejectionLog
  /** On a Redis Cluster: a shard found on another node than it was warmed on is reset and rebuilt. */
  readonly cluster?: boolean
  /** Told when a shard was reset after a failover (metrics). */
  readonly onShardReset?: () => void
  /** Told how long each admission script took, in seconds (metrics). */
  readonly onAdmitTime?: (seconds: number) => void
  /** Told the answer of every buy that got one (metrics). */
  readonly onOutcome?: (outcome: 'queued' | 'existing' | 'sold_out' | 'sold_out_local' | 'banned' | 'rate_limited') => void
}

export type BuyOutcome =
  /** The ticket was created now and waits in line (HTTP 202). */
  | { readonly kind: 'queued', readonly ticket: TicketView }
  /** The answer is an existing or born-final ticket (HTTP 200). */
  | { readonly kind: 'final', readonly ticket: TicketView }

/**
 * The answer for a buyer of an event announced sold out who holds no ticket: sold_out, with the
 * same ticket id the gate gives, and remembered as the gate would. Undefined when the answer
 * needs Redis.
 */
export function localSoldOut (deps: Pick<AdmissionDeps, 'rejections' | 'onOutcome'>, cached: CachedEvent, userId: string, now: number): TicketView | undefined {
  if (cached.holders === undefined || cached.holders.has(userId)) return undefined
  if (windowStatus(cached.event, now) !== 'active') return undefined
  const shard = shardOf(userId, cached.event.shards)
  deps.rejections.record(cached.event.id, shard, userId)
  deps.onOutcome?.('sold_out_local')
  return { ticket_id: rejectedTicketId(cached.event.id, shard, userId), status: 'sold_out' }
}

/** `buyToken`: the token the buyer sent, if any (needed only for sales that require one). */
export async function buy (deps: AdmissionDeps, eventId: number, userId: string, buyToken?: string, now = Date.now()): Promise<BuyOutcome> {
  const cached = await deps.events.get(eventId)
  if (cached === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
  const { event } = cached
  const window = windowStatus(event, now)
  if (window === 'upcoming') throw new DomainError('EVENT_NOT_STARTED', 'the sale has not started')
  if (window === 'ended') throw new DomainError('EVENT_ENDED', 'the sale has ended')

  const local = localSoldOut(deps, cached, userId, now)
  if (local !== undefined) return { kind: 'final', ticket: local }

  const shard = shardOf(userId, event.shards)
  if (deps.rejections.answeredUnwritten(event.id, shard, userId)) {
    deps.onOutcome?.('sold_out_local')
    return { kind: 'final', ticket: { ticket_id: rejectedTicketId(event.id, shard, userId), status: 'sold_out' } }
  }

  const ref = { eventId: event.id, shard }
  const target: AdmitTarget = { k: deps.keys.shard(ref), q: deps.keys.buyQueue(ref), ticketPrefix: ticketIdPrefix(event.id, shard), overbook: deps.overbook, rate: deps.rateLimit, cluster: deps.cluster }
  const token = event.requireToken ? buyToken ?? '' : undefined
  const started = performance.now()
  let reply = await admitBuyer(deps.redis, target, userId, token)
  deps.onAdmitTime?.((performance.now() - started) / 1000)
  if (reply.code === Admit.MOVED) {
    // A replica took over the shard's node and may lack the last writes: the shard is forgotten
    // and rebuilt from MySQL (below, as when it is not warm), so no queue position is reused.
    if (await resetMovedShard(deps.redis, target.k)) {
      deps.log.warn({ shard: target.k.tag }, 'the shard\'s Redis node changed (a failover): reset, rebuilding it from MySQL')
      deps.onShardReset?.()
    }
    reply = { ...reply, code: Admit.NOT_WARM }
  }
  if (reply.code === Admit.NOT_WARM) {
    // Not warm (first buy after a Redis restart, or before any worker saw the event).
    const fresh = await deps.repo.findById(event.id)
    if (fresh === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
    await warmEvent(deps, fresh, deps.repo)
    reply = await admitBuyer(deps.redis, target, userId, token)
    if (reply.code === Admit.NOT_WARM) throw new DomainError('SALE_NOT_READY', 'the sale is being prepared, retry shortly')
  }

  const { qpos, position, value } = reply
  switch (reply.code) {
    case Admit.QUEUED: {
      const ticketId = queuedTicketId(event.id, shard, qpos)
      deps.onOutcome?.('queued')
      return { kind: 'queued', ticket: ticketView(ticketId, { userId, status: 'queued', detail: '' }, qpos, qpos - position, undefined) }
    }
    case Admit.EXISTING: {
      const ticketId = queuedTicketId(event.id, shard, qpos)
      const stored = parseStoredTicket(value)
      if (stored === undefined) throw new DomainError('INTERNAL', `ticket ${ticketId} is unreadable`)
      deps.onOutcome?.('existing')
      return { kind: 'final', ticket: ticketView(ticketId, stored, qpos, qpos - position, undefined) }
    }
    case Admit.BANNED:
      deps.onOutcome?.('banned')
      throw new DomainError('ACCOUNT_BANNED', 'this account is suspended and cannot buy')
    case Admit.RATE_LIMITED:
      deps.onOutcome?.('rate_limited')
      throw new DomainError('RATE_LIMITED', `too many buys; retry in ${Math.ceil(qpos / 1000)} s`, qpos)
    case Admit.TOKEN_INVALID:
      throw new DomainError('BUY_TOKEN_INVALID', 'this sale needs a valid buy token (X-Buy-Token), issued shortly before the start')
    case Admit.SOLD_OUT_NOW:
    case Admit.SOLD_OUT_BEFORE:
      deps.onOutcome?.('sold_out')
      return { kind: 'final', ticket: { ticket_id: rejectedTicketId(event.id, shard, userId), status: 'sold_out' } }
    default:
      throw new DomainError('INTERNAL', `admitBuyer answered ${String(reply.code)}`)
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
  if (now < event.startAt.getTime() - deps.leadMs) throw new DomainError('BUY_TOKEN_NOT_AVAILABLE', 'buy tokens are issued shortly before the start')
  if (now >= event.endAt.getTime()) throw new DomainError('EVENT_ENDED', 'the sale has ended')
  const token = randomBytes(16).toString('base64url')
  const expiresAt = Math.max(now, event.startAt.getTime()) + deps.ttlMs
  const k = deps.keys.shard({ eventId: event.id, shard: shardOf(userId, event.shards) })
  await deps.redis.hset(k.buyTokens, userId, `${token}:${expiresAt}`)
  await deps.redis.pexpireat(k.buyTokens, event.endAt.getTime() + 3_600_000)
  return { token, expires_at: new Date(expiresAt).toISOString() }
}
