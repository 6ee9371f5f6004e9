/**
 * The reconciler: compares an event's Redis state with MySQL and repairs Redis from MySQL.
 *
 * Missing shards are rebuilt (warm-up). For an event at rest (no admitted ticket undecided, so no
 * batch holds a reservation it has not written yet), three things must agree with MySQL:
 *   - units held in Redis: exactly the live orders' tickets;
 *   - a unit of a cancelled or expired order is back in the sale (returned once, by `returnUnit`);
 *   - unreserved stock over all shards = stock − units held (= stock − sold when nothing moves).
 * Repairs happen only while the reconciler holds every shard lease of the event, so no drain batch
 * can reserve a unit meanwhile. An event a drain owns, or one still draining, is only reported:
 * its drift may be a batch in flight.
 */
import type { EventsRepository, SaleEvent } from './events'
import type { OrderTickets, SaleStateDeps } from './sale-state'
import { eventDecided, isDeclaredSoldOut, reopenSale, returnUnit, shardStocks, warmEvent } from './sale-state'
import { parseTicketId } from './tickets'
import { randomUUID } from 'node:crypto'
import { acquireLease, releaseLease } from './shard-lease'
import type { Lease } from './shard-lease'
import type { ShardKeys } from '../redis/keys'
import type { Knex } from 'knex'

export interface ReconcileReport {
  readonly eventId: number
  /** Shards rebuilt from MySQL because Redis had lost them. */
  readonly rebuiltShards: number
  /** False while a drain owns the event or tickets are being decided: nothing else was changed. */
  readonly atRest: boolean
  /** Live orders whose held unit was missing in Redis, marked again. */
  readonly markedHeld: number
  /** Units of cancelled or expired orders that had not come back, returned now. */
  readonly returned: number
  /** Units held in Redis with no order at all (a reservation whose order was never written), freed. */
  readonly freed: number
  /** Unreserved stock added (positive) or removed (negative) so Redis = stock − sold. */
  readonly stockAdjusted: number
}

export interface ReconcileDeps extends SaleStateDeps {
  readonly events: EventsRepository
  /** For the shards' fencing numbers: the reconciler takes the leases like a new owner would. */
  readonly db: Knex
}

export async function reconcileEvent (deps: ReconcileDeps, event: SaleEvent): Promise<ReconcileReport> {
  const rebuiltShards = await warmEvent(deps, event, deps.events)
  const report = { eventId: event.id, rebuiltShards, atRest: false, markedHeld: 0, returned: 0, freed: 0, stockAdjusted: 0 }
  const owner = `reconcile:${randomUUID()}`
  const taken: Array<{ k: ShardKeys, lease: Lease }> = []
  try {
    // Taken like a new owner takes them: the fencing numbers rise, so a drain that stalled
    // before and wakes up during the repair writes nothing.
    for (let shard = 0; shard < event.shards; shard++) {
      const ref = { eventId: event.id, shard }
      const k = deps.keys.shard(ref)
      const lease = await acquireLease(deps.redis, deps.db, deps.keys, ref, event.shards, owner, LEASE_MS)
      if (lease === undefined) return report
      taken.push({ k, lease })
    }
    if (!await eventDecided(deps, event)) return report
    report.atRest = true
    await repair(deps, event, report)
    return report
  } finally {
    await Promise.all(taken.map(async ({ k, lease }) => await releaseLease(deps.redis, k, lease.token)))
  }
}

/** How long the reconciler may hold an event's leases (a repair takes far less). */
const LEASE_MS = 30_000

async function repair (deps: ReconcileDeps, event: SaleEvent, report: { -readonly [K in keyof ReconcileReport]: ReconcileReport[K] }): Promise<void> {
  const orderTickets: OrderTickets = deps.events.orderTickets

  const orders = await orderTickets(event.id)
  const live = new Set(orders.filter((o) => o.live).map((o) => o.ticketId))
  const ended = orders.filter((o) => !o.live).map((o) => o.ticketId)
  const held = new Map<string, number>() // ticket id -> shard holding its unit
  for (let shard = 0; shard < event.shards; shard++) {
    for (const id of await deps.redis.hkeys(deps.keys.shard({ eventId: event.id, shard }).reserved)) held.set(id, shard)
  }

  for (const id of ended) {
    if (held.has(id) && await returnUnit(deps, event, id)) {
      report.returned++
      held.delete(id)
    }
  }
  for (const id of live) {
    if (held.has(id)) continue
    const ref = parseTicketId(id)
    if (ref === undefined || ref.kind !== 'queued' || ref.shard >= event.shards) continue
    await deps.redis.hset(deps.keys.shard({ eventId: event.id, shard: ref.shard }).reserved, id, '1')
    report.markedHeld++
  }
  for (const [id, shard] of held) {
    if (live.has(id)) continue
    await deps.redis.hdel(deps.keys.shard({ eventId: event.id, shard }).reserved, id)
    report.freed++
  }

  // Every unit is either free or held, so free = stock − held. Not stock − sold: a cancel or an
  // expiry may commit while this runs (they are not fenced by the leases; their return goes
  // through the owner afterwards). Such a unit is still held here, but `sold` already dropped:
  // counted free now and returned again by the owner, it would be a phantom unit.
  const fresh = await deps.events.findById(event.id)
  if (fresh === undefined) return
  const stocks = await shardStocks(deps, fresh)
  let heldNow = 0
  for (let shard = 0; shard < fresh.shards; shard++) heldNow += await deps.redis.hlen(deps.keys.shard({ eventId: fresh.id, shard }).reserved)
  const diff = Math.max(0, fresh.stock - heldNow) - stocks.reduce<number>((a, s) => a + (s ?? 0), 0)
  if (diff !== 0) {
    // Put the difference on the shards in turn, never below zero.
    let left = diff
    for (let shard = 0; shard < fresh.shards && left !== 0; shard++) {
      const k = deps.keys.shard({ eventId: fresh.id, shard })
      const have = stocks[shard] ?? 0
      const change = left > 0 ? left : Math.max(left, -have)
      if (change !== 0) await deps.redis.incrby(k.stock, change)
      left -= change
    }
    report.stockAdjusted = diff - left
    // Units came back: a sale announced sold out must admit buyers for them again.
    if (report.stockAdjusted > 0 && await isDeclaredSoldOut(deps, fresh.id)) await reopenSale(deps, fresh)
  }
}

/** True when the report shows Redis had drifted from MySQL. */
export function changedAnything (r: ReconcileReport): boolean {
  return r.rebuiltShards > 0 || r.markedHeld > 0 || r.returned > 0 || r.freed > 0 || r.stockAdjusted !== 0
}
