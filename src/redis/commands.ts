/**
 * Typed calls of the product's Lua scripts. Each function knows its script's KEYS order and turns
 * the raw reply into named results; nothing else in the code base passes KEYS by hand.
 */
import { sampledTraceParent } from '../tracing/spans'
import { readFileSync } from 'node:fs'
import { allShardKeys } from './keys'
import type { BuyQueueKeys, ShardKeys } from './keys'
import { runScript } from './scripts'
import type { RedisClient } from './scripts'

/** Replies of lua/admitBuyer. */
export const Admit = {
  QUEUED: 1,
  EXISTING: 2,
  SOLD_OUT_NOW: 3,
  SOLD_OUT_BEFORE: 4,
  NOT_WARM: -1,
  TOKEN_INVALID: -2,
  BANNED: -3,
  RATE_LIMITED: -4,
  /** The shard is on another Redis Cluster node than it was warmed on (a failover): reset it. */
  MOVED: -5
} as const
export type AdmitCode = typeof Admit[keyof typeof Admit]

export interface AdmitReply {
  readonly code: AdmitCode
  /** For RATE_LIMITED: milliseconds left in the buyer's rate-limit window. */
  readonly qpos: number
  /** Place in line (queue position − highest decided position). */
  readonly position: number
  /** For EXISTING: the stored ticket, "user|status|detail". */
  readonly value: string
}

/** BullMQ's `meta.version` value, as its Queue writes it ("bullmq:<installed version>"). */
const BULLMQ_META_VERSION = `bullmq:${(JSON.parse(readFileSync(require.resolve('bullmq/package.json'), 'utf8')) as { version: string }).version}`
/** Length the buy queues' event streams are kept near: nobody listens to them, so short. */
export const BUY_EVENTS_MAX_LEN = 100

/** A buyer's buys per window of the event (counted by the admission script). */
export interface BuyRateLimit {
  readonly max: number
  readonly timeWindow: number
}

/** What lua/admitBuyer needs besides the buyer: the shard's keys, its queue's, and the settings. */
export interface AdmitTarget {
  readonly k: ShardKeys
  readonly q: BuyQueueKeys
  /** The shard's ticket id prefix ("<event>-<shard>-"). */
  readonly ticketPrefix: string
  readonly overbook: number
  readonly rate: BuyRateLimit
  /** On a Redis Cluster: check that the shard is still on the node it was warmed on. */
  readonly cluster?: boolean
}

/**
 * `buyToken`: undefined when the sale requires none, else the token the buyer gave ('' for none).
 * An admitted ticket's job is in the shard's queue when this returns.
 */
export async function admitBuyer (redis: RedisClient, target: AdmitTarget, userId: string, buyToken?: string): Promise<AdmitReply> {
  const { k, q } = target
  const [code, qpos, position, value] = await runScript(redis, 'admitBuyer',
    [k.holders, k.rejected, k.tickets, k.qseq, k.stock, k.pending, k.peers, k.closed, k.rejectedAt, k.drained, k.buyTokens, k.banned,
      q.wait, q.active, q.meta, q.id, q.events, q.marker, q.jobPrefix, k.buyRate, k.node],
    [userId, target.overbook, buyToken ?? '-', k.wake, target.ticketPrefix, BULLMQ_META_VERSION, BUY_EVENTS_MAX_LEN,
      target.rate.max, target.rate.timeWindow, sampledTraceParent(), target.cluster === true ? '1' : '0']) as [AdmitCode, number, number, string]
  return { code, qpos, position, value }
}

/** Per-ticket results of lua/reserveStock. */
export const Reserve = {
  NONE: 0,
  NOW: 1,
  BEFORE: 2,
  FINAL: 3,
  UNKNOWN: 4
} as const
export type ReserveResult = typeof Reserve[keyof typeof Reserve]

export interface ReservedTicket {
  readonly result: ReserveResult
  /** The ticket's buyer as stored ('' for an unknown ticket). */
  readonly userId: string
}

export type ReserveReply =
  | { readonly leaseLost: true }
  | { readonly leaseLost: false, readonly stock: number, readonly pending: number, readonly results: readonly ReservedTicket[], readonly reservedUpTo: number }

export async function reserveStock (redis: RedisClient, k: ShardKeys, leaseToken: string, ticketIdPrefix: string, qposes: readonly number[]): Promise<ReserveReply> {
  const reply = await runScript(redis, 'reserveStock', [k.stock, k.pending, k.reserved, k.lease, k.tickets, k.reservedUpTo],
    [leaseToken, ticketIdPrefix, ...qposes]) as Array<number | string>
  if (reply[0] === -1) return { leaseLost: true }
  const results: ReservedTicket[] = []
  for (let i = 4; i < reply.length; i += 2) results.push({ result: reply[i] as ReserveResult, userId: String(reply[i + 1] ?? '') })
  return { leaseLost: false, stock: Number(reply[1] ?? 0), pending: Number(reply[2] ?? 0), results, reservedUpTo: Number(reply[3] ?? 0) }
}

/** A job taken from a shard's buy queue: its id (the ticket id) and when BullMQ added it (ms). */
export interface TakenJob {
  readonly id: string
  readonly addedAt: number
  /** The buy's trace context (W3C traceparent) when it was traced and sampled, else ''. */
  readonly traceParent: string
}

export type TakeReply =
  | { readonly leaseLost: true }
  | { readonly leaseLost: false, readonly jobs: readonly TakenJob[] }

/**
 * Deletes the jobs of decided tickets (`settled`) and takes up to `count` more, oldest first;
 * `adopt` first returns the jobs a former owner of the shard had taken.
 */
export async function takeJobs (redis: RedisClient, k: ShardKeys, q: BuyQueueKeys, leaseToken: string,
  count: number, adopt: boolean, settled: readonly string[]): Promise<TakeReply> {
  const reply = await runScript(redis, 'takeJobs', [k.lease, q.wait, q.active, q.jobPrefix],
    [leaseToken, count, adopt ? '1' : '0', ...settled]) as Array<number | string>
  if (reply[0] === -1) return { leaseLost: true }
  const jobs: TakenJob[] = []
  for (let i = 1; i < reply.length; i += 3) jobs.push({ id: String(reply[i]), addedAt: Number(reply[i + 1]), traceParent: String(reply[i + 2] ?? '') })
  return { leaseLost: false, jobs }
}

/** Per-ticket results of lua/borrowStock. */
export const Borrow = {
  NONE: 0,
  NOW: 1,
  BEFORE: 2
} as const
export type BorrowResult = typeof Borrow[keyof typeof Borrow]

export interface BorrowReply {
  readonly stock: number
  readonly pending: number
  readonly results: readonly BorrowResult[]
}

/** The borrowing shard and its owner's fencing number (lua/borrowStock refuses a former owner). */
export interface Borrower { readonly shard: number, readonly fence: number }

export async function borrowStock (redis: RedisClient, lender: ShardKeys, borrower: Borrower, mode: 'check' | 'take', ticketIds: readonly string[]): Promise<BorrowReply | 'lease_lost'> {
  const reply = await runScript(redis, 'borrowStock', [lender.stock, lender.pending, lender.reserved, lender.borrowerFences], [mode, borrower.shard, borrower.fence, ...ticketIds]) as number[]
  if (reply[0] === -1) return 'lease_lost'
  return { stock: reply[0] ?? 0, pending: reply[1] ?? 0, results: reply.slice(2) as BorrowResult[] }
}

/** Records in `lender` that `shard`'s owner now has fencing number `fence` (never lowers it). */
export async function fenceBorrower (redis: RedisClient, lender: ShardKeys, shard: number, fence: number): Promise<number> {
  return Number(await runScript(redis, 'fenceBorrower', [lender.borrowerFences], [shard, fence]))
}

/** Gives back the units held for these tickets in `holder`; returns how many came back. */
export async function releaseStock (redis: RedisClient, holder: ShardKeys, ticketIds: readonly string[]): Promise<number> {
  return Number(await runScript(redis, 'releaseStock', [holder.stock, holder.reserved], ticketIds))
}

export interface TicketDecision {
  readonly qpos: number
  readonly status: string
  readonly detail: string
  /** The ticket still counts in the shard's pending (it did not reserve in its own stock). */
  readonly leavesPending: boolean
}

export type FinishReply =
  | { readonly leaseLost: true }
  | { readonly leaseLost: false, readonly stock: number, readonly pending: number, readonly changed: number }

export async function finishTickets (redis: RedisClient, k: ShardKeys, leaseToken: string, channel: string, shardLabel: string,
  rate: number, decisions: readonly TicketDecision[]): Promise<FinishReply> {
  const args: Array<string | number> = [leaseToken, channel, shardLabel, rate > 0 ? rate.toFixed(1) : '']
  for (const d of decisions) args.push(d.qpos, d.status, d.detail, d.leavesPending ? '1' : '0')
  const reply = await runScript(redis, 'finishTickets', [k.tickets, k.pending, k.drained, k.lease, k.stock, k.rate], args) as number[]
  if (reply[0] === -1) return { leaseLost: true }
  return { leaseLost: false, stock: reply[1] ?? 0, pending: reply[2] ?? 0, changed: reply[3] ?? 0 }
}

export interface TicketRead {
  /** The stored ticket, or "" when there is none. */
  readonly value: string
  readonly drained: number
  /** Drain rate in tickets per second, when measured. */
  readonly rate: number | undefined
  /** Positions up to this were handed out before Redis lost the shard (0 when it never did). */
  readonly lostBelow: number
}

export async function readTicket (redis: RedisClient, k: ShardKeys, qpos: number): Promise<TicketRead> {
  const [value, drained, rate, lostBelow] = await runScript(redis, 'readTicket', [k.tickets, k.drained, k.rate, k.lostBelow], [qpos]) as [string, number, string, number]
  return { value, drained, rate: rate === '' ? undefined : Number(rate), lostBelow }
}

/**
 * Puts a shard's units in Redis unless it is warm already; true when warmed now. `firstMark`: the
 * highest queue position already used by an order of the shard (0 for a new sale). `floor`: for a
 * rebuild, a position past any handed out before Redis lost the shard (0 for a first warm-up).
 */
export async function warmShard (redis: RedisClient, k: ShardKeys, units: number, siblings: ReadonlyArray<readonly [number, number]>, firstMark = 0, floor = 0): Promise<boolean> {
  const args: Array<string | number> = [units, firstMark, floor]
  for (const [shard, n] of siblings) args.push(shard, n)
  return (await runScript(redis, 'warmShard', [k.stock, k.pending, k.qseq, k.drained, k.peers, k.lostBelow, k.node], args)) === 1
}

/** Closes a sold-out shard's gate; false when a unit is left there. */
export async function closeShard (redis: RedisClient, k: ShardKeys): Promise<boolean> {
  return (await runScript(redis, 'closeShard', [k.stock, k.closed], [])) === 1
}

/** Reopens a shard's gate after a unit came back, starting a new FIFO epoch. */
export async function reopenShard (redis: RedisClient, k: ShardKeys): Promise<number> {
  return Number(await runScript(redis, 'reopenShard', [k.closed, k.rejectedAt, k.epochs, k.drained], []))
}

/** Replies of lua/rotateRefresh besides a user id. */
export const Rotate = { UNKNOWN: 0, REPLAYED: -1 } as const

export async function rotateRefresh (redis: RedisClient, familyKey: string, presentedHash: string, nextHash: string, ttlMs: number, nowMs: number, graceMs: number): Promise<string | typeof Rotate[keyof typeof Rotate]> {
  const reply = await runScript(redis, 'rotateRefresh', [familyKey], [presentedHash, nextHash, ttlMs, nowMs, graceMs])
  return typeof reply === 'string' ? reply : Number(reply) as typeof Rotate[keyof typeof Rotate]
}

/** Replies of lua/revokeRefresh. */
export const Revoke = { REVOKED: 1, UNKNOWN: 0, WRONG_SECRET: -1 } as const

export async function revokeRefresh (redis: RedisClient, familyKey: string, presentedHash: string, nowMs: number, graceMs: number): Promise<typeof Revoke[keyof typeof Revoke]> {
  return Number(await runScript(redis, 'revokeRefresh', [familyKey], [presentedHash, nowMs, graceMs])) as typeof Revoke[keyof typeof Revoke]
}

export async function renewLease (redis: RedisClient, k: ShardKeys, token: string, ms: number): Promise<boolean> {
  return (await runScript(redis, 'renewLease', [k.lease], [token, ms])) === 1
}

/** Outcome of applying a returned unit (lua/applyReturn). */
export const ApplyReturn = { LEASE_LOST: -1, NOTHING_HELD: 0, RETURNED: 1 } as const
export type ApplyReturnResult = typeof ApplyReturn[keyof typeof ApplyReturn]

export async function applyReturn (redis: RedisClient, k: ShardKeys, leaseToken: string, ticketId: string): Promise<ApplyReturnResult> {
  return Number(await runScript(redis, 'applyReturn', [k.lease, k.reserved, k.stock, k.closed, k.rejectedAt, k.epochs, k.drained, k.returnsGen], [leaseToken, ticketId])) as ApplyReturnResult
}

/**
 * Starts a new FIFO epoch after `boundary` when a lender's returns-gen grew since this shard last
 * looked (lua/startEpoch); true when one started, 'lease_lost' when the lease is not the caller's.
 */
export async function startEpoch (redis: RedisClient, k: ShardKeys, leaseToken: string, boundary: number, lenderGens: ReadonlyArray<readonly [number, number]>): Promise<boolean | 'lease_lost'> {
  const r = Number(await runScript(redis, 'startEpoch', [k.lease, k.lenderGens, k.epochs, k.closed, k.rejectedAt], [leaseToken, boundary, ...lenderGens.flat()]))
  return r < 0 ? 'lease_lost' : r === 1
}

export async function swapLease (redis: RedisClient, k: ShardKeys, provisional: string, token: string, ms: number): Promise<boolean> {
  return (await runScript(redis, 'swapLease', [k.lease], [provisional, token, ms])) === 1
}

export async function releaseLease (redis: RedisClient, k: ShardKeys, token: string): Promise<boolean> {
  return (await runScript(redis, 'releaseLease', [k.lease], [token])) === 1
}

export interface QuotaBlock {
  /** The counter after this reservation: the block is requests (after - granted + 1) .. after. */
  readonly after: number
  /** Requests granted to the caller now (0: the window's quota is spent). */
  readonly granted: number
  /** Milliseconds left in the window. */
  readonly ttlMs: number
}

/** Reserves up to `block` requests of a rate limit's window for this process (lua/reserveQuota). */
export async function reserveQuota (redis: RedisClient, key: string, max: number, block: number, windowMs: number): Promise<QuotaBlock> {
  const [after, granted, ttlMs] = await runScript(redis, 'reserveQuota', [key], [max, block, windowMs]) as [number, number, number]
  return { after, granted, ttlMs }
}


/**
 * Deletes every key of a shard whose Redis Cluster node changed since it was warmed (a replica
 * took over and may lack the last writes); the next warm-up rebuilds it from MySQL. True when it
 * did; false when there was nothing to do (see lua/resetMovedShard).
 */
export async function resetMovedShard (redis: RedisClient, k: ShardKeys): Promise<boolean> {
  const rest = allShardKeys(k).filter((key) => key !== k.node && key !== k.stock)
  return (await runScript(redis, 'resetMovedShard', [k.node, k.stock, ...rest], [])) === 1
}
