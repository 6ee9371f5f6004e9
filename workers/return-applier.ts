/**
 * The owner's half of a unit that comes back (src/domain/unit-returns.ts): with no batch of the
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
import type { KeySpace, ShardRef } from '../src/redis/keys'
import type { RedisClient } from '../src/redis/scripts'
import { ApplyReturn, applyReturn } from '../src/redis/commands'
import { reopenGate, shareFreeUnits, withdrawSoldOutIfOpen } from '../src/domain/sale-state'
import { parseTicketId } from '../src/domain/tickets'
import { markApplied, pendingReturns, signalReturns } from '../src/domain/unit-returns'

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

/** True while the ticket is undecided (its batch may still run or be replayed). */
async function ticketQueued (deps: ReturnApplierDeps, ticketId: string): Promise<boolean> {
  const t = parseTicketId(ticketId)
  if (t === undefined || t.kind !== 'queued') return false
  const value = await deps.redis.hget(deps.keys.shard({ eventId: t.eventId, shard: t.shard }).tickets, String(t.qpos))
  return value !== null && value.includes('|queued|')
}
