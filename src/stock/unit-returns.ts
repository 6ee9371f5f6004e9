/**
 * Units that come back to a sale, and the one path they take (the stock-ownership rule).
 *
 * Whoever gives a unit back -- a buyer's cancel, a payment deadline, a drain batch that finds its
 * winner already holds an order, a rebuild that finds a surviving shard holding a unit for a
 * ticket Redis lost -- records the return in MySQL (`unit_returns`), inside the same transaction
 * that changes (or finds) the order where there is one, then raises the `returns-signal` of the shard
 * holding the unit. Nobody else touches that shard's stock: its owner, between two batches (none in
 * flight), reads the unapplied returns, applies each once its ticket is final (lua/applyReturn:
 * the unit goes back to the stock, a new FIFO epoch, the gate reopens), stamps it applied, reopens
 * the siblings' gates and withdraws the event's sold-out announcement.
 *
 * A lost flag (Redis down after the commit) delays a return, never loses it: workers also look for
 * unapplied returns of the shards they own once per discovery round.
 */
import type { Knex } from 'knex'
import type { ShardRef } from '../redis/keys'
import type { SaleStateDeps } from './deps'

/** Why a unit came back; `replayed`: a replayed batch reserved a new unit for a ticket whose order was written before. */
export type ReturnReason = 'cancelled' | 'expired' | 'already_ordered' | 'lost_in_redis' | 'replayed'

export interface UnitReturn {
  readonly id: number
  readonly ticketId: string
  readonly reason: ReturnReason
}

/** Records returns inside the caller's transaction; a ticket's unit in a given shard is recorded once. */
export async function recordReturns (trx: Knex.Transaction, eventId: number, returns: ReadonlyArray<{ shard: number, ticketId: string, reason: ReturnReason }>): Promise<void> {
  if (returns.length === 0) return
  await trx('unit_returns').insert(returns.map((r) => ({ event_id: eventId, shard: r.shard, ticket_id: r.ticketId, reason: r.reason }))).onConflict(['ticket_id', 'shard']).ignore()
}

/** The returns signal's one member. */
const RETURNS_DUE = 'due'

/**
 * Tells the shards holding the units that returns are due (after the recording transaction
 * committed): the flag a busy owner looks at between batches, then a message on the shard's wake
 * channel that wakes an idle owner at once (workers/drain-waker.ts).
 */
export async function signalReturns (deps: SaleStateDeps, refs: readonly ShardRef[]): Promise<void> {
  await Promise.all(refs.map(async (ref) => {
    const k = deps.keys.shard(ref)
    await deps.redis.zadd(k.returnsDue, 0, RETURNS_DUE)
    await deps.redis.publish(k.wake, WAKE_RETURNS)
  }))
}

/**
 * Messages on a shard's wake channel: a ticket was admitted to an idle line, units came back, or a
 * sibling closed its gate (the owner looks whether the sale is empty and closes its own).
 */
export const WAKE_JOBS = 'j'
export const WAKE_RETURNS = 'r'
export const WAKE_SOLD_OUT = 's'

/** Asks the owners of the event's other shards to close their own gates if the sale is empty. */
export async function askSiblingsToClose (deps: SaleStateDeps, ref: ShardRef, shards: number): Promise<void> {
  await Promise.all(Array.from({ length: shards }, (_, s) => s).filter((s) => s !== ref.shard)
    .map(async (s) => await deps.redis.publish(deps.keys.shard({ eventId: ref.eventId, shard: s }).wake, WAKE_SOLD_OUT)))
}

/** Unapplied returns of one shard, oldest first. */
export async function pendingReturns (db: Knex, ref: ShardRef): Promise<UnitReturn[]> {
  const rows = await db('unit_returns').select('id', 'ticket_id', 'reason')
    .whereNull('applied_at').andWhere({ event_id: ref.eventId, shard: ref.shard }).orderBy('id') as Array<{ id: number | string, ticket_id: string, reason: ReturnReason }>
  return rows.map((r) => ({ id: Number(r.id), ticketId: r.ticket_id, reason: r.reason }))
}

export async function markApplied (db: Knex, ids: readonly number[]): Promise<void> {
  if (ids.length === 0) return
  await db('unit_returns').whereIn('id', ids).whereNull('applied_at').update({ applied_at: db.raw('CURRENT_TIMESTAMP(3)') })
}

/**
 * Shards with unapplied returns of sales that ended more than `graceMs` ago on MySQL's clock: no
 * drain owns them any more (a sale is retired once decided), so the returns recorded since (a
 * deadline or a cancel after the end) are applied by whoever takes the shard for it.
 */
export async function lateReturnShards (db: Knex, graceMs: number): Promise<Array<ShardRef & { readonly shards: number }>> {
  const rows = await db('unit_returns as r').join('seckill_events as e', 'e.id', 'r.event_id')
    .distinct('r.event_id', 'r.shard', 'e.shards').whereNull('r.applied_at')
    .andWhere('e.end_at', '<', db.raw('CURRENT_TIMESTAMP(3) - INTERVAL ? MICROSECOND', [graceMs * 1000])) as Array<{ event_id: number | string, shard: number, shards: number }>
  return rows.map((r) => ({ eventId: Number(r.event_id), shard: Number(r.shard), shards: Number(r.shards) }))
}

/** Shards of the given events with unapplied returns (one query per discovery round, for flags that were lost). */
export async function shardsWithPendingReturns (db: Knex, eventIds: readonly number[]): Promise<ShardRef[]> {
  if (eventIds.length === 0) return []
  const rows = await db('unit_returns').distinct('event_id', 'shard').whereNull('applied_at').whereIn('event_id', eventIds) as Array<{ event_id: number | string, shard: number }>
  return rows.map((r) => ({ eventId: Number(r.event_id), shard: Number(r.shard) }))
}
