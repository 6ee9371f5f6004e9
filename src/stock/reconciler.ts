/**
 * The reconciler: compares an event's Redis state with MySQL and repairs Redis from MySQL.
 *
 * Missing shards are rebuilt (warm-up). For an event at rest (no admitted ticket undecided, so no
 * batch holds a reservation it has not written yet), three things must agree with MySQL:
 *   - units held in Redis: exactly the live orders' tickets;
 *   - a unit of a cancelled or expired order is back in the sale, in the shard that held it;
 *   - unreserved stock over all shards = stock − units held (= stock − sold when nothing moves).
 * The reconciler is a fenced owner: it takes every shard lease of the event as a new owner would
 * (the fencing numbers rise), renews them just before it writes, and writes each shard only
 * through lua/repairShard, which checks its lease where the write happens. So no drain batch can
 * reserve a unit meanwhile, and a reconciler that stalls past its leases changes nothing. An event
 * a drain owns, or one still draining, is only reported: its drift may be a batch in flight.
 */
import type { SaleEvent } from '../shared/sale-event'
import type { SaleHistory } from './sale-state'
import type { SaleStateDeps } from './deps'
import { eventDecided, warmEvent, withdrawSoldOutIfOpen } from './sale-state'
import { parseTicketId } from '../shared/ticket-ids'
import { randomUUID } from 'node:crypto'
import { acquireLease, releaseLease, renewLease } from './shard-lease'
import { Repair, repairShard } from './scripts'
import type { Logger } from 'pino'
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
  /** Unreserved stock added (positive) or removed (negative) beyond the units returned and freed, so Redis = stock − sold. */
  readonly stockAdjusted: number
}

export interface ReconcileDeps extends SaleStateDeps {
  /** The sale's past as MySQL has it (the catalog's events repository). */
  readonly events: SaleHistory
  /** For the shards' fencing numbers: the reconciler takes the leases like a new owner would. */
  readonly db: Knex
  readonly log?: Logger
}

export async function reconcileEvent (deps: ReconcileDeps, event: SaleEvent): Promise<ReconcileReport> {
  const rebuiltShards = await warmEvent(deps, event, deps.events)
  const report: MutableReport = { eventId: event.id, rebuiltShards, atRest: false, markedHeld: 0, returned: 0, freed: 0, stockAdjusted: 0 }
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
    // The row given may be older than an admin's edit (a worker's discovery round read it): the
    // count is taken from the row as it is now that the leases are held. An edit that lands after
    // this clears the shards, leases included, and every fenced write below is refused.
    const fresh = await deps.events.findById(event.id)
    if (fresh === undefined || fresh.shards !== event.shards) return report
    report.atRest = true
    await repair(deps, fresh, taken, report)
    return report
  } finally {
    await Promise.all(taken.map(async ({ k, lease }) => await releaseLease(deps.redis, k, lease.token)))
  }
}

/** How long the reconciler may hold an event's leases (a repair takes far less). */
const LEASE_MS = 30_000

/**
 * One reading of every shard (stock and reservations together, per shard), then each shard's
 * repair in one fenced call (lua/repairShard). While the reconciler holds the leases nothing else
 * moves a unit in Redis: a drain batch, a borrow and a return all need a lease. Should it lose
 * one (a stall past the lease), that shard's repair is refused; the rest is still right, since a
 * change of stock is relative and units only move inside a shard, and the next run finds what
 * is left.
 */
async function repair (deps: ReconcileDeps, event: SaleEvent, taken: ReadonlyArray<{ k: ShardKeys, lease: Lease }>, report: MutableReport): Promise<void> {
  const orders = await deps.events.orderTickets(event.id)
  const live = new Map(orders.filter((o) => o.live).map((o) => [o.ticketId, o] as const))
  const ended = new Set(orders.filter((o) => !o.live).map((o) => o.ticketId))
  const shards = await Promise.all(taken.map(async ({ k }) => await readShard(deps, k)))
  const held = new Map<string, number>() // ticket id -> shard holding its unit
  shards.forEach((s, shard) => { for (const id of s.reserved) held.set(id, shard) })

  const plans = shards.map(() => ({ delta: 0, mark: [] as string[], free: [] as string[] }))
  for (const [id, o] of live) {
    if (held.has(id)) continue
    const t = parseTicketId(id)
    if (t === undefined || t.kind !== 'queued') continue
    // Where the order says its unit is: a unit borrowed from a sibling is held there.
    const holder = o.unitShard ?? t.shard
    if (holder >= event.shards) continue
    plans[holder]?.mark.push(id)
  }
  for (const [id, shard] of held) {
    if (live.has(id)) continue
    // A cancelled or expired order's unit that never came back, or a reservation whose order was
    // never written: the unit is free again, in the shard that held it.
    const plan = plans[shard]
    if (plan === undefined) continue
    plan.free.push(id)
    plan.delta++
  }
  // Every unit is either free or held: free = stock − held, over the shards. Not stock − sold: a
  // cancel or an expiry may commit while this runs (they are not fenced by the leases; their
  // return goes through the owner afterwards): such a unit is still held here.
  const heldAfter = plans.reduce((n, p, shard) => n + (shards[shard]?.reserved.length ?? 0) + p.mark.length - p.free.length, 0)
  const freeAfter = plans.reduce((n, p, shard) => n + (shards[shard]?.stock ?? 0) + p.delta, 0)
  let left = Math.max(0, event.stock - heldAfter) - freeAfter
  for (let shard = 0; shard < plans.length && left !== 0; shard++) {
    const plan = plans[shard] as typeof plans[number]
    const have = (shards[shard]?.stock ?? 0) + plan.delta
    const change = left > 0 ? left : Math.max(left, -have)
    plan.delta += change
    left -= change
  }
  const cameBack = plans.some((p) => p.delta > 0)
  // Just before writing: a lease that ran out meanwhile is found here rather than by every write.
  for (const { k, lease } of taken) {
    if (!await renewLease(deps.redis, k, lease.token, LEASE_MS)) return
  }
  for (let shard = 0; shard < plans.length; shard++) {
    const plan = plans[shard] as typeof plans[number]
    const { k, lease } = taken[shard] as typeof taken[number]
    if (plan.delta === 0 && plan.mark.length === 0 && plan.free.length === 0 && !cameBack) continue
    const done = await repairShard(deps.redis, k, lease.token, { ...plan, reopen: cameBack })
    if (done !== Repair.DONE) {
      deps.log?.warn({ shard: k.tag, reply: done }, 'reconciler: a shard moved while it was repaired; left for the next run')
      continue
    }
    const returned = plan.free.filter((id) => ended.has(id)).length
    report.markedHeld += plan.mark.length
    report.returned += returned
    report.freed += plan.free.length - returned
    report.stockAdjusted += plan.delta - plan.free.length
  }
  // Units came back: a sale announced sold out must admit buyers for them again; every gate was
  // reopened above, under the leases.
  if (cameBack) await withdrawSoldOutIfOpen(deps, event)
}

type MutableReport = { -readonly [K in keyof ReconcileReport]: ReconcileReport[K] }

/** A shard's free stock and the tickets it holds units for, read together (one hash slot). */
async function readShard (deps: ReconcileDeps, k: ShardKeys): Promise<{ stock: number, reserved: string[] }> {
  const replies = await deps.redis.multi().get(k.stock).hkeys(k.reserved).exec()
  const [stock, reserved] = (replies ?? []).map(([err, v]) => { if (err !== null) throw err; return v })
  return { stock: Number(stock ?? 0), reserved: (reserved ?? []) as string[] }
}

/** True when the report shows Redis had drifted from MySQL. */
export function changedAnything (r: ReconcileReport): boolean {
  return r.rebuiltShards > 0 || r.markedHeld > 0 || r.returned > 0 || r.freed > 0 || r.stockAdjusted !== 0
}
