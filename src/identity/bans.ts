/**
 * Banning a buyer (operators against scalpers): MySQL's `users.banned_at` is the truth, audited in
 * the same transaction; every sign-in is voided (access tokens too, at once: src/identity/sessions.ts)
 * and later ones, and refreshes, are refused. The
 * ban is then copied into the `banned` set of every shard of every sale not yet over, where the
 * admission script refuses the buyer before anything else (no extra round trip on the buy path);
 * a shard warmed later copies the bans from MySQL before its stock appears
 * (src/stock/sale-state.ts). Tickets the buyer already holds are left as they are: an operator
 * who wants the unit back cancels the order, which is audited too.
 *
 * Known gap: an unban racing a shard's first warm-up (the warm-up read the bans before the unban
 * committed, and copies them after the unban removed its entry) leaves that shard refusing the
 * buyer; unbanning again clears it.
 */
import type { KeySpace } from '../redis/keys'
import type { RedisClient } from '../redis/scripts'
import type { UsersRepository } from './accounts'
import type { AuditRecord } from '../shared/admin-trail'
import type { SaleEvent } from '../shared/sale-event'
import { DomainError, notFound } from '../shared/errors'
import { publishGeneration } from './sessions'
import type { SessionCache } from './sessions'

export interface BanDeps {
  readonly users: UsersRepository
  readonly redis: RedisClient
  readonly keys: KeySpace
  /** Sales not over (the events repository's listLive). */
  readonly listLive: (now: Date, horizonMs: number, graceMs: number) => Promise<SaleEvent[]>
  /** Where the ban's end of every session is published (its access tokens stop at once). */
  readonly sessions: SessionCache
}

export interface BanView {
  readonly id: string
  readonly email: string
  readonly banned: boolean
  readonly ban_reason: string | null
}

/** Far enough ahead to take in every sale already created. */
const ALL_AHEAD_MS = 100 * 365 * 86_400_000

type Actor = Omit<AuditRecord, 'action' | 'targetType' | 'targetId' | 'detail'>

export async function banUser (deps: BanDeps, userId: string, reason: string, actor: Actor): Promise<BanView> {
  const user = await deps.users.findById(userId)
  if (user === undefined) throw notFound('NOT_FOUND', 'account')
  if (user.role === 'admin') throw new DomainError('FORBIDDEN', 'an admin account cannot be banned')
  const gen = await deps.users.setBan(userId, { reason }, actor)
  if (gen !== undefined) await publishGeneration(deps.sessions, userId, gen)
  await copyBan(deps, userId, true)
  return { id: user.id, email: user.email, banned: true, ban_reason: reason }
}

export async function unbanUser (deps: BanDeps, userId: string, actor: Actor): Promise<BanView> {
  const user = await deps.users.findById(userId)
  if (user === undefined) throw notFound('NOT_FOUND', 'account')
  await deps.users.setBan(userId, undefined, actor)
  await copyBan(deps, userId, false)
  return { id: user.id, email: user.email, banned: false, ban_reason: null }
}

async function copyBan (deps: BanDeps, userId: string, banned: boolean): Promise<void> {
  const events = await deps.listLive(new Date(), ALL_AHEAD_MS, 0)
  await Promise.all(events.flatMap((e) => Array.from({ length: e.shards }, async (_, shard) => {
    const key = deps.keys.shard({ eventId: e.id, shard }).banned
    if (banned) await deps.redis.sadd(key, userId)
    else await deps.redis.srem(key, userId)
  })))
}
