/**
 * Typed calls of the product's Lua scripts, but for those that change a sale's stock (those are
 * the stock module's own: src/stock/scripts.ts). Each function maps its callers' terms onto its
 * script's keys and arguments by name (declared once, in src/redis/script-registry.ts); nothing
 * else in the code base passes KEYS by hand.
 */
import { sampledTraceParent } from '../tracing/spans'
import { readFileSync } from 'node:fs'
import type { BuyQueueKeys, ShardKeys, WaitlistKeys } from './keys'
import { runScript, runScriptArgv, scriptArgIndex, scriptArgv } from './scripts'
import type { RedisClient, ScriptCall } from './scripts'
import type { Arg, AdmitReply, PlaceReply, QuotaBlock, RevokeCode, RotateCode, TakeReply, TicketRead, WaitlistStanding } from './script-registry'

export { Admit, Place, Revoke, Rotate } from './script-registry'
export type { AdmitCode, AdmitReply, PlaceReply, QuotaBlock, TakeReply, TakenJob, TicketRead, WaitlistStanding } from './script-registry'

/** BullMQ's `meta.version` value, as its Queue writes it ("bullmq:<installed version>"). */
export const BULLMQ_META_VERSION = `bullmq:${(JSON.parse(readFileSync(require.resolve('bullmq/package.json'), 'utf8')) as { version: string }).version}`
/** Length the buy queues' event streams are kept near: nobody listens to them, so short. */
export const BUY_EVENTS_MAX_LEN = 100

/** A buyer's buys per window of the event (counted by the admission script). */
export interface BuyRateLimit {
  readonly max: number
  readonly timeWindow: number
}

/** A buyer's proof of work as the admission script judges it (expiry, single use): checked by the ingress first (src/sale/proof-of-work.ts). */
export interface ProofSpend {
  /** The proof's id: its challenge's nonce. */
  readonly id: string
  /** Its expiry, ms on Redis's clock. */
  readonly expiresAtMs: number
  /**
   * Set when the ingress refused the proof (POW_INVALID): why. The script is told only that it is
   * invalid ("!"), and refuses it after a ticket holder's and a turned-away buyer's answers.
   */
  readonly refused?: string
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
  /**
   * For a sale that needs a proof of work: the buyer's, checked by the ingress (its id and expiry),
   * or null when none was sent. Undefined for a sale that needs none.
   */
  readonly proof?: ProofSpend | null
}

/**
 * `buyToken`: undefined when the sale requires none, else the token the buyer gave ('' for none).
 * An admitted ticket's job is in the shard's queue when this returns.
 */
export async function admitBuyer (redis: RedisClient, target: AdmitTarget, userId: string, buyToken?: string): Promise<AdmitReply> {
  const t = admitTemplate(target)
  const argv = t.argv.slice()
  argv[t.user] = userId
  argv[t.token] = buyToken ?? '-'
  argv[t.trace] = sampledTraceParent()
  // The buyer's proof of work is the buy's own too, not the shard's (src/sale/proof-of-work.ts).
  argv[t.proof] = proofArg(target.proof)
  argv[t.proofExpiresAt] = target.proof?.expiresAtMs ?? 0
  return await runScriptArgv(redis, 'admitBuyer', argv)
}

/**
 * lua/admitBuyer's KEYS and ARGV but the buyer's own three, built once per shard and settings: a
 * buy copies the array and sets three entries instead of naming and flattening 32 keys and
 * arguments. Measured (bench/request-overheads.ts, issue 35): 0.64 → 0.10 µs of CPU per buy.
 */
interface AdmitTemplate {
  readonly target: AdmitTarget
  readonly argv: readonly Arg[]
  /** Where the buyer's id, buy token, trace context and proof of work go in `argv`. */
  readonly user: number
  readonly token: number
  readonly trace: number
  readonly proof: number
  readonly proofExpiresAt: number
}
const admitTemplates = new WeakMap<ShardKeys, AdmitTemplate>()

function admitTemplate (target: AdmitTarget): AdmitTemplate {
  const known = admitTemplates.get(target.k)
  const t = known?.target
  if (known !== undefined && t !== undefined && t.q === target.q && t.ticketPrefix === target.ticketPrefix && t.overbook === target.overbook &&
    t.rate.max === target.rate.max && t.rate.timeWindow === target.rate.timeWindow && t.cluster === target.cluster) return known
  const made: AdmitTemplate = {
    target: { ...target, rate: { ...target.rate } },
    argv: scriptArgv('admitBuyer', admitCall(target, '', '')),
    user: scriptArgIndex('admitBuyer', 'userId'),
    token: scriptArgIndex('admitBuyer', 'buyToken'),
    trace: scriptArgIndex('admitBuyer', 'traceParent'),
    proof: scriptArgIndex('admitBuyer', 'proof'),
    proofExpiresAt: scriptArgIndex('admitBuyer', 'proofExpiresAt')
  }
  admitTemplates.set(target.k, made)
  return made
}

/** The admission script's `proof` argument: '-' when the sale needs none, '' when none was sent, '!' when the ingress refused it, else its id. */
function proofArg (proof: ProofSpend | null | undefined): string {
  return proof === undefined ? '-' : proof === null ? '' : proof.refused !== undefined ? '!' : proof.id
}

/** lua/admitBuyer's keys and arguments for one buy (exported for bench/redis-wait.ts, which pipelines it by hand). */
export function admitCall (target: AdmitTarget, userId: string, buyToken?: string): ScriptCall<'admitBuyer'> {
  const { k, q } = target
  return {
    keys: {
      holders: k.holders,
      rejected: k.rejected,
      tickets: k.tickets,
      qseq: k.qseq,
      stock: k.stock,
      pending: k.pending,
      peers: k.peers,
      closed: k.closed,
      rejectedAt: k.rejectedAt,
      drained: k.drained,
      buyTokens: k.buyTokens,
      banned: k.banned,
      wait: q.wait,
      active: q.active,
      meta: q.meta,
      id: q.id,
      events: q.events,
      marker: q.marker,
      jobPrefix: q.jobPrefix,
      buyRate: k.buyRate,
      node: k.node,
      proofs: k.proofs
    },
    args: {
      userId,
      overbook: target.overbook,
      buyToken: buyToken ?? '-',
      wake: k.wake,
      ticketPrefix: target.ticketPrefix,
      bullmqVersion: BULLMQ_META_VERSION,
      eventsMaxLen: BUY_EVENTS_MAX_LEN,
      rateMax: target.rate.max,
      rateWindowMs: target.rate.timeWindow,
      traceParent: sampledTraceParent(),
      cluster: target.cluster === true ? '1' : '0',
      proof: proofArg(target.proof),
      proofExpiresAt: target.proof?.expiresAtMs ?? 0
    }
  }
}

/**
 * Deletes the jobs of decided tickets (`settled`) and takes up to `count` more, oldest first;
 * `adopt` first returns the jobs a former owner of the shard had taken.
 */
export async function takeJobs (redis: RedisClient, k: ShardKeys, q: BuyQueueKeys, leaseToken: string,
  count: number, adopt: boolean, settled: readonly string[]): Promise<TakeReply> {
  return await runScript(redis, 'takeJobs', {
    keys: { lease: k.lease, wait: q.wait, active: q.active, jobPrefix: q.jobPrefix },
    args: { leaseToken, count, adopt: adopt ? '1' : '0', settled }
  })
}

export async function readTicket (redis: RedisClient, k: ShardKeys, qpos: number): Promise<TicketRead> {
  return await runScript(redis, 'readTicket', { keys: k, args: { qpos } })
}

/**
 * Records the users as turned away if the shard's gate is closed (lua/confirmSoldOut); true per
 * user whose sold-out answer is confirmed.
 */
export async function confirmSoldOut (redis: RedisClient, k: ShardKeys, userIds: readonly string[]): Promise<boolean[]> {
  return await runScript(redis, 'confirmSoldOut', { keys: k, args: { userIds } })
}

export async function rotateRefresh (redis: RedisClient, familyKey: string, presentedHash: string, nextHash: string, ttlMs: number, nowMs: number, graceMs: number): Promise<string | RotateCode> {
  return await runScript(redis, 'rotateRefresh', { keys: { family: familyKey }, args: { presentedHash, nextHash, ttlMs, nowMs, graceMs } })
}

export async function revokeRefresh (redis: RedisClient, familyKey: string, presentedHash: string, nowMs: number, graceMs: number): Promise<RevokeCode> {
  return await runScript(redis, 'revokeRefresh', { keys: { family: familyKey }, args: { presentedHash, nowMs, graceMs } })
}

/** Caches an account's session generation (lua/raiseSessionGen); returns the one now cached. */
export async function raiseSessionGen (redis: RedisClient, sessionsKey: string, gen: number, ttlMs: number): Promise<number> {
  return await runScript(redis, 'raiseSessionGen', { keys: { sessions: sessionsKey }, args: { gen, ttlMs } })
}

/** Records that a refresh family signed out, so its access tokens stop working (lua/markSignedOut). */
export async function markSignedOut (redis: RedisClient, sessionsKey: string, family: string, nowMs: number, accessTtlMs: number): Promise<void> {
  await runScript(redis, 'markSignedOut', { keys: { sessions: sessionsKey }, args: { family, nowMs, accessTtlMs } })
}

/** Reserves up to `block` requests of a rate limit's window for this process (lua/reserveQuota). */
export async function reserveQuota (redis: RedisClient, key: string, max: number, block: number, windowMs: number): Promise<QuotaBlock> {
  return await runScript(redis, 'reserveQuota', { keys: { counter: key }, args: { max, block, windowMs } })
}

/** A shard's waitlist keys by the names its scripts declare (src/redis/keys.ts `waitlist`). */
export function waitlistKeys (w: WaitlistKeys): { waitlist: string, waitlistUsers: string, waitlistSeq: string, waitlistCursor: string, waitlistLeft: string, waitlistServed: string } {
  return { waitlist: w.list, waitlistUsers: w.users, waitlistSeq: w.seq, waitlistCursor: w.cursor, waitlistLeft: w.left, waitlistServed: w.served }
}

/**
 * lua/admitWaitlisted: admission for a sale that keeps a waitlist. Replies as admitBuyer; for a
 * sold-out answer `position` is the buyer's place on the waitlist (0: not on it).
 */
export async function admitWaitlisted (redis: RedisClient, target: AdmitTarget, w: WaitlistKeys, userId: string, buyToken?: string): Promise<AdmitReply> {
  const call = admitCall(target, userId, buyToken)
  const { waitlistServed: _served, ...wl } = waitlistKeys(w)
  return await runScript(redis, 'admitWaitlisted', { keys: { ...call.keys, ...wl, returnsDue: target.k.returnsDue, lostBelow: target.k.lostBelow }, args: call.args })
}

export async function readWaitlist (redis: RedisClient, k: ShardKeys, w: WaitlistKeys, userId: string): Promise<WaitlistStanding> {
  return await runScript(redis, 'readWaitlist', { keys: { ...k, ...waitlistKeys(w) }, args: { userId } })
}

/** lua/leaveWaitlist: true when the buyer was on the waitlist and left it now. */
export async function leaveWaitlist (redis: RedisClient, k: ShardKeys, w: WaitlistKeys, userId: string): Promise<boolean> {
  return await runScript(redis, 'leaveWaitlist', { keys: { ...k, ...waitlistKeys(w) }, args: { userId } })
}

/**
 * lua/admitRandomStart: admission to a randomized start's shard. Not open, lead window or open is
 * judged in the script on Redis's TIME against `opensAtMs` and `startAtMs` (one clock for every
 * ingress); `entryId` is kept
 * if the buyer enters now; a shard takes at most `maxEntrants` entrants. `drawOnly`: a draw sale,
 * whose start is the close (no buy admitted once the list is sealed: DRAW_CLOSED).
 */
export async function admitRandomStart (redis: RedisClient, target: AdmitTarget, userId: string, buyToken: string | undefined, window: { startAtMs: number, opensAtMs: number }, entryId: string,
  maxEntrants: number, drawOnly = false): Promise<AdmitReply> {
  const call = admitCall(target, userId, buyToken)
  const { startAtMs, opensAtMs } = window
  return await runScript(redis, 'admitRandomStart', { keys: { ...call.keys, entrants: target.k.entrants, startSeal: target.k.startSeal }, args: { ...call.args, startAtMs, entryId, maxEntrants, drawOnly: drawOnly ? '1' : '0', opensAtMs } })
}

/**
 * lua/placeEntrants: by the shard's owner, seals the entry list if needed and places one chunk of
 * entrants ("<user>:<entry id>", drawn order) from `from`; an empty chunk only seals and reports.
 */
export async function placeEntrants (redis: RedisClient, k: ShardKeys, q: BuyQueueKeys, ticketPrefix: string, leaseToken: string,
  from: number, count: number, placements: readonly string[]): Promise<PlaceReply> {
  return await runScript(redis, 'placeEntrants', {
    keys: { ...k, ...q },
    args: { leaseToken, from, count, wake: k.wake, ticketPrefix, bullmqVersion: BULLMQ_META_VERSION, eventsMaxLen: BUY_EVENTS_MAX_LEN, placements }
  })
}
