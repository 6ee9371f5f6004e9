/**
 * Typed calls of the Lua scripts that change a sale's stock, reservations, gates, FIFO epochs,
 * leases and lender generations. Only the stock module calls them (src/stock/index.ts is its front
 * door; .dependency-cruiser.cjs fails `npm test` when anything else imports this file, and
 * test/unit/dependency-rules.test.ts when anything else runs a script the registry marks
 * `owner: 'stock'`). Each function maps the stock module's terms onto its script's keys and
 * arguments by name (declared once, in src/redis/script-registry.ts, with the reply's decoder).
 */
import type { BuyQueueKeys, ShardKeys, WaitlistKeys } from '../redis/keys'
import { BULLMQ_META_VERSION, BUY_EVENTS_MAX_LEN, waitlistKeys } from '../redis/commands'
import { runScript } from '../redis/scripts'
import type { RedisClient } from '../redis/scripts'
import type { ApplyReturnResult, BorrowReply, CloseResult, FinishReply, RepairResult, ReserveReply, ServeWaitlistReply, WarmResult } from '../redis/script-registry'

export { ApplyReturn, Borrow, Close, Repair, Reserve, Warm } from '../redis/script-registry'
export type { ApplyReturnResult, BorrowReply, BorrowResult, CloseResult, FinishReply, RepairResult, ReserveReply, ReserveResult, ReservedTicket, WarmResult } from '../redis/script-registry'

export async function reserveStock (redis: RedisClient, k: ShardKeys, leaseToken: string, ticketIdPrefix: string, qposes: readonly number[]): Promise<ReserveReply> {
  return await runScript(redis, 'reserveStock', { keys: k, args: { leaseToken, ticketIdPrefix, qposes } })
}

/** The borrowing shard and its owner's fencing number (lua/borrowStock refuses a former owner). */
export interface Borrower { readonly shard: number, readonly fence: number }

export async function borrowStock (redis: RedisClient, lender: ShardKeys, borrower: Borrower, mode: 'check' | 'take', ticketIds: readonly string[]): Promise<BorrowReply | 'lease_lost'> {
  return await runScript(redis, 'borrowStock', { keys: lender, args: { mode, shard: borrower.shard, fence: borrower.fence, ticketIds } })
}

/** Records in `lender` that `shard`'s owner now has fencing number `fence` (never lowers it). */
export async function fenceBorrower (redis: RedisClient, lender: ShardKeys, shard: number, fence: number): Promise<number> {
  return await runScript(redis, 'fenceBorrower', { keys: lender, args: { shard, fence } })
}

/** Gives back the units held for these tickets in `holder`; returns how many came back. */
export async function releaseStock (redis: RedisClient, holder: ShardKeys, ticketIds: readonly string[]): Promise<number> {
  return await runScript(redis, 'releaseStock', { keys: holder, args: { ticketIds } })
}

export interface TicketDecision {
  readonly qpos: number
  readonly status: string
  readonly detail: string
  /** The ticket still counts in the shard's pending (it did not reserve in its own stock). */
  readonly leavesPending: boolean
}

export async function finishTickets (redis: RedisClient, k: ShardKeys, leaseToken: string, channel: string, shardLabel: string,
  rate: number, decisions: readonly TicketDecision[]): Promise<FinishReply> {
  const groups: Array<string | number> = []
  for (const d of decisions) groups.push(d.qpos, d.status, d.detail, d.leavesPending ? '1' : '0')
  return await runScript(redis, 'finishTickets', {
    keys: k,
    args: { leaseToken, channel, shardLabel, drainRate: rate > 0 ? rate.toFixed(1) : '', decisions: groups }
  })
}

export interface WarmPlan {
  readonly units: number
  readonly siblings: ReadonlyArray<readonly [number, number]>
  /** Highest queue position with an order (0 for a new sale). */
  readonly firstMark: number
  /** Past any position handed out before a loss (0 for a first warm-up). */
  readonly floor: number
  /** The rebuild's fence, which must be the shard's newest claim (lua/claimShard). */
  readonly fence: number
  /** Live orders' tickets whose unit this shard holds. */
  readonly held: readonly string[]
}

/**
 * Puts a shard's units in Redis unless it is warm already (lua/warmShard): Warm.WARMED when warmed
 * now, Warm.ALREADY when it was warm, Warm.FENCED when a newer rebuild claimed the shard.
 */
export async function warmShard (redis: RedisClient, k: ShardKeys, plan: WarmPlan): Promise<WarmResult> {
  const siblingsThenHeld: Array<string | number> = []
  for (const [shard, n] of plan.siblings) siblingsThenHeld.push(shard, n)
  for (const id of plan.held) siblingsThenHeld.push(id)
  return await runScript(redis, 'warmShard', {
    keys: k,
    args: { units: plan.units, firstMark: plan.firstMark, floor: plan.floor, fence: plan.fence, siblingCount: plan.siblings.length, siblingsThenHeld }
  })
}

export interface ShardRepair {
  /** Change of the unreserved stock. */
  readonly delta: number
  /** Units came back to the sale: the gate reopens in a new FIFO epoch. */
  readonly reopen: boolean
  readonly mark: readonly string[]
  readonly free: readonly string[]
}

/** The reconciler's fenced repair of one shard (lua/repairShard). */
export async function repairShard (redis: RedisClient, k: ShardKeys, leaseToken: string, r: ShardRepair): Promise<RepairResult> {
  return await runScript(redis, 'repairShard', {
    keys: k,
    args: { leaseToken, delta: r.delta, reopen: r.reopen ? 1 : 0, markCount: r.mark.length, markThenFree: [...r.mark, ...r.free] }
  })
}

/** Claims a shard for a rebuild (lua/claimShard); false when a newer rebuild claimed it. */
export async function claimShard (redis: RedisClient, k: ShardKeys, fence: number): Promise<boolean> {
  return await runScript(redis, 'claimShard', { keys: k, args: { fence } })
}

/** The units a shard could lend its siblings now (lua/readFreeUnits). */
export async function readFreeUnits (redis: RedisClient, k: ShardKeys): Promise<number> {
  return await runScript(redis, 'readFreeUnits', { keys: k, args: {} })
}

/** The owner closes its sold-out shard's gate (lua/closeShard). */
export async function closeShard (redis: RedisClient, k: ShardKeys, leaseToken: string): Promise<CloseResult> {
  return await runScript(redis, 'closeShard', { keys: k, args: { leaseToken } })
}

/** Reopens a shard's gate after a unit came back, starting a new FIFO epoch. */
export async function reopenShard (redis: RedisClient, k: ShardKeys): Promise<number> {
  return await runScript(redis, 'reopenShard', { keys: k })
}

export async function renewLease (redis: RedisClient, k: ShardKeys, token: string, ms: number): Promise<boolean> {
  return await runScript(redis, 'renewLease', { keys: k, args: { token, ms } })
}

export async function applyReturn (redis: RedisClient, k: ShardKeys, leaseToken: string, ticketId: string): Promise<ApplyReturnResult> {
  return await runScript(redis, 'applyReturn', { keys: k, args: { leaseToken, ticketId } })
}

/**
 * Applies one returned unit (or none, `ticketId` '') and serves the shard's waitlist with the
 * unreserved units, in order (lua/serveWaitlist); only before `endMs` by Redis's clock.
 */
export async function serveWaitlist (redis: RedisClient, k: ShardKeys, q: BuyQueueKeys, w: WaitlistKeys, leaseToken: string, ticketId: string, endMs: number, ticketPrefix: string): Promise<ServeWaitlistReply> {
  return await runScript(redis, 'serveWaitlist', {
    keys: { ...k, ...q, ...waitlistKeys(w) },
    args: { leaseToken, ticketId, endMs, wake: k.wake, ticketPrefix, bullmqVersion: BULLMQ_META_VERSION, eventsMaxLen: BUY_EVENTS_MAX_LEN }
  })
}

/**
 * Starts a new FIFO epoch after `boundary` when a lender's returns-gen grew since this shard last
 * looked (lua/startEpoch); true when one started, 'lease_lost' when the lease is not the caller's.
 */
export async function startEpoch (redis: RedisClient, k: ShardKeys, leaseToken: string, boundary: number, lenderGens: ReadonlyArray<readonly [number, number]>): Promise<boolean | 'lease_lost'> {
  return await runScript(redis, 'startEpoch', { keys: k, args: { leaseToken, boundary, lenderGens: lenderGens.flat() } })
}

export async function swapLease (redis: RedisClient, k: ShardKeys, provisional: string, token: string, ms: number): Promise<boolean> {
  return await runScript(redis, 'swapLease', { keys: k, args: { provisional, token, ms } })
}

export async function releaseLease (redis: RedisClient, k: ShardKeys, token: string): Promise<boolean> {
  return await runScript(redis, 'releaseLease', { keys: k, args: { token } })
}

/**
 * Deletes every key of a shard whose Redis Cluster node changed since it was warmed (a replica
 * took over and may lack the last writes); the next warm-up rebuilds it from MySQL. True when it
 * did; false when there was nothing to do (see lua/resetMovedShard).
 */
export async function resetMovedShard (redis: RedisClient, k: ShardKeys): Promise<boolean> {
  return await runScript(redis, 'resetMovedShard', { keys: k })
}
