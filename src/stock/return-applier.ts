/**
 * The owner's half of a unit that comes back (src/stock/unit-returns.ts): with no batch of the
 * shard in flight, apply the shard's unapplied returns, each once, in the order they were recorded,
 * and reopen the shard's gate when a sibling got units back. The sold-out announcement is withdrawn
 * by whichever owner reopens the last closed gate.
 *
 * Must never run while a batch of the shard is between reserve and finish: the new FIFO epoch
 * starts at the shard's FIFO mark, which is right only when every position reserved so far is
 * decided. A return whose ticket is still queued is left for later: its batch may be replayed (a
 * crash after the order committed) and must find the unit still reserved, or it would reserve a
 * second one.
 */
import type { Knex } from 'knex'
import type { KeySpace, ShardRef } from '../redis/keys'
import type { RedisClient } from '../redis/scripts'
import { ApplyReturn, applyReturn, serveWaitlist } from './scripts'
import { ticketIdPrefix } from '../shared/ticket-ids'
import { reopenGate, shareFreeUnits, withdrawSoldOutIfOpen } from './sale-state'
import { parseTicketId } from '../shared/ticket-ids'
import { markApplied, pendingReturns, signalReturns } from './unit-returns'
import { acquireLease, releaseLease } from './shard-lease'

export interface ReturnApplierDeps {
  readonly redis: RedisClient
  readonly db: Knex
  readonly keys: KeySpace
}

export interface AppliedReturns {
  readonly leaseLost: boolean
  /** Units put back in the stock now. */
  readonly returned: number
  /** Returns left for later: their tickets are still undecided. */
  readonly waiting: number
}

export async function applyDueReturns (deps: ReturnApplierDeps, ref: ShardRef, shards: number, leaseToken: string): Promise<AppliedReturns> {
  const k = deps.keys.shard(ref)
  // Cleared before reading, so a return recorded meanwhile raises it again.
  await deps.redis.del(k.returnsDue)
  const sale = await deps.db('seckill_events').first('waitlist', 'end_at').where({ id: ref.eventId }) as { waitlist: number | boolean, end_at: Date } | undefined
  if (sale !== undefined && Boolean(sale.waitlist)) return await applyToWaitlist(deps, ref, shards, leaseToken, sale.end_at.getTime())
  const done: number[] = []
  let returned = 0
  let waiting = 0
  for (const r of await pendingReturns(deps.db, ref)) {
    if (await ticketQueued(deps, r.ticketId)) {
      waiting++
      continue
    }
    const applied = await applyReturn(deps.redis, k, leaseToken, r.ticketId)
    if (applied === ApplyReturn.LEASE_LOST) {
      await markApplied(deps.db, done)
      return { leaseLost: true, returned, waiting }
    }
    if (applied === ApplyReturn.RETURNED) returned++
    done.push(r.id)
  }
  await markApplied(deps.db, done)
  const event = { id: ref.eventId, shards }
  if (returned > 0) {
    // This gate reopened with the unit; siblings learn they can borrow it and reopen their own
    // gates between their own batches.
    await shareFreeUnits(deps, event, ref.shard)
    await signalReturns(deps, Array.from({ length: shards }, (_, s) => s).filter((s) => s !== ref.shard).map((s) => ({ eventId: ref.eventId, shard: s })))
  } else {
    // Raised by a sibling that got units back: this gate reopens in a new epoch.
    await reopenGate(deps, ref)
  }
  await withdrawSoldOutIfOpen(deps, event)
  return { leaseLost: false, returned, waiting }
}

/**
 * The same for a sale that keeps a waitlist (one shard): each unit that comes back, and any unit
 * left unreserved, goes to the waitlist's first buyer once the tickets ahead of them are decided
 * (lua/serveWaitlist), before the gate lets a newcomer in. `waiting` counts a first buyer still
 * waiting for the line, so the drain looks again soon.
 */
async function applyToWaitlist (deps: ReturnApplierDeps, ref: ShardRef, shards: number, leaseToken: string, endMs: number): Promise<AppliedReturns> {
  const k = deps.keys.shard(ref)
  // The sale's end is read again before each serve: an operator may end it meanwhile, and nobody is
  // served after the end. (Between this read and the script an end can still land; the script
  // judges the end it is given on Redis's clock.)
  const serve = async (ticketId: string): ReturnType<typeof serveWaitlist> => {
    const row = await deps.db('seckill_events').first('end_at').where({ id: ref.eventId }) as { end_at: Date } | undefined
    const end = row === undefined ? 0 : Math.min(endMs, row.end_at.getTime())
    // Called again until the waitlist has indexed every decided ticket (each call indexes the
    // next MAX_LOOK): only then is the unit put back and the list's first buyer served. Nothing
    // is decided meanwhile (the drain applies returns with no batch in flight), so this ends.
    for (;;) {
      const reply = await serveWaitlist(deps.redis, k, deps.keys.buyQueue(ref), deps.keys.waitlist(ref), leaseToken, ticketId, end, ticketIdPrefix(ref.eventId, ref.shard))
      if (reply.code !== ApplyReturn.NOT_INDEXED) return reply
    }
  }
  const done: number[] = []
  let returned = 0
  let waiting = 0
  let lineWaits = false
  for (const r of await pendingReturns(deps.db, ref)) {
    if (await ticketQueued(deps, r.ticketId)) {
      waiting++
      continue
    }
    const reply = await serve(r.ticketId)
    if (reply.code === ApplyReturn.LEASE_LOST) {
      await markApplied(deps.db, done)
      return { leaseLost: true, returned, waiting }
    }
    if (reply.code === ApplyReturn.RETURNED) returned++
    lineWaits = reply.waiting
    done.push(r.id)
  }
  await markApplied(deps.db, done)
  if (done.length === 0) {
    // Asked to look with no return due: units left unreserved (the gate turned a buyer away while
    // some were free), or a first buyer who waited for the line.
    const reply = await serve('')
    if (reply.code === ApplyReturn.LEASE_LOST) return { leaseLost: true, returned, waiting }
    lineWaits = reply.waiting
  }
  await withdrawSoldOutIfOpen(deps, { id: ref.eventId, shards })
  return { leaseLost: false, returned, waiting: waiting + (lineWaits ? 1 : 0) }
}

/** True while the ticket is undecided (its batch may still run or be replayed). */
async function ticketQueued (deps: ReturnApplierDeps, ticketId: string): Promise<boolean> {
  const t = parseTicketId(ticketId)
  if (t === undefined || t.kind !== 'queued') return false
  const value = await deps.redis.hget(deps.keys.shard({ eventId: t.eventId, shard: t.shard }).tickets, String(t.qpos))
  return value !== null && value.includes('|queued|')
}

/**
 * Applies the returns of a shard whose sale is over and that no drain owns: the caller takes the
 * shard's lease like any owner (fenced), applies, and gives it back. Returns recorded after a sale
 * retired (a payment deadline or a cancel after the end) are so applied too, and Redis and MySQL
 * agree after the end (I6). Undefined when another process holds the shard.
 */
export async function applyLateReturns (deps: ReturnApplierDeps, ref: ShardRef, shards: number, owner: string, leaseMs: number): Promise<AppliedReturns | undefined> {
  const lease = await acquireLease(deps.redis, deps.db, deps.keys, ref, shards, owner, leaseMs)
  if (lease === undefined) return undefined
  try {
    return await applyDueReturns(deps, ref, shards, lease.token)
  } finally {
    await releaseLease(deps.redis, deps.keys.shard(ref), lease.token)
  }
}
