/**
 * The hot state of a sale in Redis: per-shard stock, the sold-out declaration, the ticket holders.
 * Everything here can be rebuilt from MySQL (warm-up uses stock − sold).
 */
import type { KeySpace, ShardKeys, ShardRef } from '../redis/keys'
import { allShardKeys } from '../redis/keys'
import type { RedisClient } from '../redis/scripts'
import { closeShard, releaseStock, reopenShard, warmShard } from '../redis/commands'
import { fenceSiblings } from './shard-lease'
import { parseTicketId } from './tickets'
import type { SaleEvent } from './events'
import { splitStock } from './events'
import { signalReturns } from './unit-returns'

export interface SaleStateDeps {
  readonly redis: RedisClient
  readonly keys: KeySpace
}

/** Where MySQL's orders of an event are, to rebuild shards that Redis lost. */
export type OrderTickets = (eventId: number) => Promise<Array<{ ticketId: string, live: boolean, unitShard: number | null }>>

/** What MySQL knows of a sale's past, for warm-ups that may be rebuilds (the events repository). */
export interface SaleHistory {
  readonly orderTickets: OrderTickets
  /** The event as MySQL has it now (read again after fencing). */
  readonly findById: (eventId: number) => Promise<SaleEvent | undefined>
  /** Raises a shard's fencing number: from then on its former owner commits nothing. */
  readonly raiseFence: (ref: ShardRef) => Promise<number>
  /** Records units surviving shards hold for tickets Redis lost, as returns (unit_returns). */
  readonly recordLostUnits: (eventId: number, units: ReadonlyArray<{ shard: number, ticketId: string }>) => Promise<void>
  /** Records the first warm-up, so a later one that finds Redis empty knows it is a rebuild. */
  readonly markWarmed: (eventId: number) => Promise<void>
  /** Banned buyers: copied into each shard before its stock, so none is admitted meanwhile. */
  readonly bannedUsers: () => Promise<string[]>
}

/**
 * First queue position of a shard rebuilt at `now`: past any position handed out since the start.
 * Redis runs far less than one script per microsecond, so a shard cannot have handed out more
 * positions than microseconds have passed since the start, counting any earlier rebuild's floor.
 */
export function rebuildFloor (event: Pick<SaleEvent, 'startAt'>, now: number): number {
  return Math.max(0, Math.ceil((now - event.startAt.getTime()) * 1000))
}

function shardRefs (event: Pick<SaleEvent, 'id' | 'shards'>): ShardRef[] {
  return Array.from({ length: event.shards }, (_, shard) => ({ eventId: event.id, shard }))
}

/**
 * Puts the event's unsold units into Redis, split over its shards. Shards already warm are left
 * as they are. Returns how many shards were warmed now.
 *
 * A shard missing after the event was first warmed was lost by Redis (a restart without
 * persistence, one Cluster node). It is rebuilt from MySQL:
 *   1. Every shard of the event is fenced first (its fencing number raised, and recorded in every
 *      sibling, where borrowing is fenced): a write in flight commits before the raise, or is
 *      refused after it, so no order lands behind the count, and no former owner borrows after
 *      it. All shards, not only the lost ones: a surviving shard's batch may hold a unit it
 *      borrowed from a lost one.
 *   2. Each unit is in exactly one place. A surviving shard's units are its free stock plus the
 *      units it holds (stock and reservations, read together; batches, borrows and returns move
 *      units inside a shard, never out of it). The lost shards' units are the rest: those held for
 *      live orders (marked held again) and the free ones. `sold` is not used: a cancel that
 *      commits meanwhile does not move a unit in Redis, its return goes through the owner.
 *   3. Its queue positions start after the highest one its orders use and after any position that
 *      may have been handed out (the tickets at or under that floor whose state is gone read as
 *      failed, `lost_in_redis`). So a ticket id is never handed out twice.
 */
export async function warmEvent (deps: SaleStateDeps, given: SaleEvent, history: SaleHistory = noHistory(given)): Promise<number> {
  let event = given
  let stocks = await shardStocks(deps, event)
  let missing = shardRefs(event).filter((ref) => stocks[ref.shard] === undefined)
  if (missing.length === 0) return 0
  // Read again in any case: the row given may be older than an edit (a worker's discovery round).
  event = await history.findById(event.id) ?? event
  const rebuild = event.warmedAt !== null
  if (rebuild) {
    // Every owner is a former owner now: none may borrow from a sibling either, the rebuilt ones
    // included (recorded before they are warmed).
    for (const ref of shardRefs(event)) await fenceSiblings(deps.redis, deps.keys, ref, event.shards, await history.raiseFence(ref))
    event = await history.findById(event.id) ?? event
  }
  stocks = await shardStocks(deps, event)
  missing = shardRefs(event).filter((ref) => stocks[ref.shard] === undefined)
  if (missing.length === 0) return 0
  const orders = rebuild ? await history.orderTickets(event.id) : []
  const live = new Set(orders.filter((o) => o.live).map((o) => o.ticketId))
  const lostShards = new Set(missing.map((r) => r.shard))
  let surviving = 0
  const lentToLost: Array<{ shard: number, ticketId: string }> = []
  for (const ref of shardRefs(event)) {
    if (lostShards.has(ref.shard)) continue
    const k = deps.keys.shard(ref)
    const [stock, reserved] = await readShardUnits(deps, k)
    surviving += stock + reserved.length
    for (const id of reserved) {
      if (live.has(id)) continue
      // Held for a ticket of a lost shard with no order: that ticket is gone, the unit comes back
      // through its holder's owner.
      const t = parseTicketId(id)
      if (t?.kind === 'queued' && lostShards.has(t.shard)) lentToLost.push({ shard: ref.shard, ticketId: id })
    }
  }
  if (lentToLost.length > 0) {
    await history.recordLostUnits(event.id, lentToLost)
    await signalReturns(deps, [...new Set(lentToLost.map((u) => u.shard))].map((s) => ({ eventId: event.id, shard: s })))
  }
  const marks = new Array<number>(event.shards).fill(0)
  const held: string[][] = Array.from({ length: event.shards }, () => [])
  for (const o of orders) {
    const ref = parseTicketId(o.ticketId)
    if (ref === undefined || ref.kind !== 'queued' || ref.shard >= event.shards) continue
    marks[ref.shard] = Math.max(marks[ref.shard] ?? 0, ref.qpos)
    // The unit is held where it was reserved (a sibling it borrowed from, maybe); only a rebuilt
    // shard needs the mark again.
    const holder = o.unitShard ?? ref.shard
    if (o.live && lostShards.has(holder)) held[holder]?.push(o.ticketId)
  }
  const heldByLost = held.reduce((n, ids) => n + ids.length, 0)
  const left = Math.max(0, event.stock - surviving - heldByLost)
  const units = missing.length === event.shards ? splitStock(left, event.shards) : spread(left, missing.map((r) => r.shard), event.shards)
  const floor = rebuild ? rebuildFloor(event, Date.now()) : 0
  // Read after the shards were found missing: a ban made since is copied by the ban itself.
  const banned = await history.bannedUsers()
  const results = await Promise.all(missing.map(async (ref) => {
    const siblings = units.map((u, i) => [i, u] as const).filter(([i]) => i !== ref.shard)
    const k = deps.keys.shard(ref)
    for (let i = 0; i < banned.length; i += 1000) await deps.redis.sadd(k.banned, ...banned.slice(i, i + 1000))
    const warmed = await warmShard(deps.redis, k, units[ref.shard] ?? 0, siblings, marks[ref.shard] ?? 0, floor)
    // Units a rebuilt shard can lend may be ones its lost tickets had been promised: for borrowers
    // this is like units coming back, so its returns-gen moves past any value seen before.
    if (warmed && floor > 0) await deps.redis.set(k.returnsGen, floor)
    const ids = held[ref.shard] ?? []
    for (let i = 0; warmed && i < ids.length; i += 1000) {
      await deps.redis.hset(k.reserved, Object.fromEntries(ids.slice(i, i + 1000).map((id) => [id, '1'])))
    }
    return warmed
  }))
  if (!rebuild) await history.markWarmed(event.id)
  else if (left > 0 && results.some((warmed) => warmed)) {
    // A rebuild put units back where Redis had lost them: a sold-out announcement made before the
    // loss is stale, and every ingress must stop answering sold_out from it.
    await deps.redis.del(deps.keys.event(event.id).soldOut)
    await deps.redis.publish(deps.keys.eventStateChannel, `${event.id}:0`)
  }
  return results.filter((warmed) => warmed).length
}

/** `units` over the given shards only (the others keep what they hold). */
function spread (units: number, shards: number[], total: number): number[] {
  const out = new Array<number>(total).fill(0)
  splitStock(units, shards.length).forEach((u, i) => { out[shards[i] as number] = u })
  return out
}

/** The history of an event that has none: never warmed, no orders (an event not in MySQL, as the scripts' tests use). */
function noHistory (event: SaleEvent): SaleHistory {
  return {
    findById: async () => event,
    orderTickets: async () => [],
    raiseFence: async () => 0,
    recordLostUnits: async () => {},
    markWarmed: async () => {},
    bannedUsers: async () => []
  }
}

/** A shard's free stock and the tickets it holds units for, read together (one MULTI: one hash slot). */
async function readShardUnits (deps: SaleStateDeps, k: ShardKeys): Promise<[number, string[]]> {
  const replies = await deps.redis.multi().get(k.stock).hkeys(k.reserved).exec()
  const [stock, reserved] = (replies ?? []).map(([err, v]) => { if (err !== null) throw err; return v })
  return [Number(stock ?? 0), (reserved ?? []) as string[]]
}

/** Removes an event's Redis state (before it is warmed again with new settings, or deleted). */
export async function clearEvent (deps: SaleStateDeps, event: Pick<SaleEvent, 'id' | 'shards'>): Promise<void> {
  await Promise.all(shardRefs(event).map(async (ref) => await deps.redis.del(...allShardKeys(deps.keys.shard(ref)))))
  await deps.redis.del(deps.keys.event(event.id).soldOut)
}

/** Unreserved units per shard; `undefined` for a shard that is not warm. */
export async function shardStocks (deps: SaleStateDeps, event: Pick<SaleEvent, 'id' | 'shards'>): Promise<Array<number | undefined>> {
  return await Promise.all(shardRefs(event).map(async (ref) => {
    const v = await deps.redis.get(deps.keys.shard(ref).stock)
    return v === null ? undefined : Number(v)
  }))
}

/** Units not yet reserved by anyone, over all shards; `undefined` when the sale is not warm. */
export async function remainingUnits (deps: SaleStateDeps, event: Pick<SaleEvent, 'id' | 'shards'>): Promise<number | undefined> {
  const stocks = await shardStocks(deps, event)
  if (stocks.some((s) => s === undefined)) return undefined
  return stocks.reduce<number>((a, b) => a + (b ?? 0), 0)
}

export async function isDeclaredSoldOut (deps: SaleStateDeps, eventId: number): Promise<boolean> {
  return (await deps.redis.exists(deps.keys.event(eventId).soldOut)) === 1
}

/** Tells every ingress the event is retired (message `<event>:retired` on the event-state channel). */
export async function announceRetired (deps: SaleStateDeps, eventId: number): Promise<void> {
  await deps.redis.publish(deps.keys.eventStateChannel, `${eventId}:retired`)
}

/**
 * Declares the event sold out when no shard has an unreserved unit left: closes every shard's gate
 * (so the ticket holders are final), then sets the event flag and tells every ingress. A shard
 * that got a unit back in the meantime refuses to close, and the declaration is withdrawn.
 */
export async function declareSoldOutIfEmpty (deps: SaleStateDeps, event: Pick<SaleEvent, 'id' | 'shards'>): Promise<boolean> {
  if (await isDeclaredSoldOut(deps, event.id)) return true
  const stocks = await shardStocks(deps, event)
  if (stocks.some((s) => s === undefined || s > 0)) return false
  const refs = shardRefs(event)
  const closed = await Promise.all(refs.map(async (ref) => await closeShard(deps.redis, deps.keys.shard(ref))))
  if (closed.some((c) => !c)) {
    await Promise.all(refs.map(async (ref) => await deps.redis.del(deps.keys.shard(ref).closed)))
    return false
  }
  await deps.redis.set(deps.keys.event(event.id).soldOut, '1')
  await deps.redis.publish(deps.keys.eventStateChannel, `${event.id}:1`)
  // A unit that came back while the shards closed must not stay hidden behind the flag.
  if ((await shardStocks(deps, event)).some((s) => s !== undefined && s > 0)) {
    await reopenSale(deps, event)
    return false
  }
  return true
}

/**
 * Reopens one shard's gate in a new FIFO epoch when it is closed or has turned buyers away. Only
 * the shard's owner calls this, between its batches (none in flight), so the epoch starts exactly
 * after the last position decided; a sibling that got a unit back raises this shard's returns-signal
 * flag instead of reopening it from outside.
 */
export async function reopenGate (deps: SaleStateDeps, ref: ShardRef): Promise<boolean> {
  const k = deps.keys.shard(ref)
  const [closed, rejectedAt] = await deps.redis.mget(k.closed, k.rejectedAt)
  if (closed === null && rejectedAt === null) return false
  await reopenShard(deps.redis, k)
  return true
}

/**
 * Withdraws the event's sold-out announcement once no shard's gate is closed any more, and tells
 * every ingress. Called by each owner after it reopened its gate: the last one to reopen withdraws
 * it, so a buyer who sees the sale open again is never turned away by a gate still closed.
 */
export async function withdrawSoldOutIfOpen (deps: SaleStateDeps, event: Pick<SaleEvent, 'id' | 'shards'>): Promise<boolean> {
  const closed = await Promise.all(shardRefs(event).map(async (ref) => await deps.redis.exists(deps.keys.shard(ref).closed)))
  if (closed.some((c) => c === 1)) return false
  if (await deps.redis.del(deps.keys.event(event.id).soldOut) === 1) {
    await deps.redis.publish(deps.keys.eventStateChannel, `${event.id}:0`)
  }
  return true
}

/** Tells siblings how many units `holder` can lend now, so their gates admit buyers for them. */
export async function shareFreeUnits (deps: SaleStateDeps, event: Pick<SaleEvent, 'id' | 'shards'>, holder: number): Promise<void> {
  const k = deps.keys.shard({ eventId: event.id, shard: holder })
  const [stock, pending] = await deps.redis.mget(k.stock, k.pending)
  const free = Math.max(0, Number(stock ?? 0) - Number(pending ?? 0))
  await Promise.all(shardRefs(event).filter((r) => r.shard !== holder).map(async (r) =>
    await deps.redis.hset(deps.keys.shard(r).peers, String(holder), free)))
}

/** Reopens every shard's gate and withdraws the sold-out announcement (a unit came back). */
export async function reopenSale (deps: SaleStateDeps, event: Pick<SaleEvent, 'id' | 'shards'>): Promise<void> {
  await Promise.all(shardRefs(event).map(async (ref) => await reopenShard(deps.redis, deps.keys.shard(ref))))
  await deps.redis.del(deps.keys.event(event.id).soldOut)
  await deps.redis.publish(deps.keys.eventStateChannel, `${event.id}:0`)
}

/**
 * Gives the unit of a cancelled or expired order back to the sale, once: the unit is forgotten by
 * the shard that held it as it is returned, so a repeated call returns nothing. The unit may have
 * been borrowed from a sibling of the ticket's shard; every shard is asked, the ticket's own first.
 * Returns true when the unit came back now.
 */
export async function returnUnit (deps: SaleStateDeps, event: Pick<SaleEvent, 'id' | 'shards'>, ticketId: string): Promise<boolean> {
  const ref = parseTicketId(ticketId)
  if (ref === undefined || ref.kind !== 'queued') return false
  let holder: number | undefined
  for (let i = 0; i < event.shards && holder === undefined; i++) {
    const shard = (ref.shard + i) % event.shards
    if (await releaseStock(deps.redis, deps.keys.shard({ eventId: event.id, shard }), [ticketId]) === 1) holder = shard
  }
  if (holder === undefined) return false
  // Siblings learn at once that the holder can lend again, so their gates admit for this unit.
  if (event.shards > 1) await shareFreeUnits(deps, event, holder)
  await reopenSale(deps, event)
  return true
}

/** Users holding a queued or decided ticket of the event (not those turned away at the gate). */
export async function loadHolders (deps: SaleStateDeps, event: Pick<SaleEvent, 'id' | 'shards'>): Promise<Set<string>> {
  const holders = new Set<string>()
  for (const ref of shardRefs(event)) {
    const key = deps.keys.shard(ref).holders
    let cursor = '0'
    do {
      const [next, fields] = await deps.redis.hscan(key, cursor, 'COUNT', 1000)
      for (let i = 0; i < fields.length; i += 2) holders.add(fields[i] as string)
      cursor = next
    } while (cursor !== '0')
  }
  return holders
}

/** True when every admitted ticket of the event has been decided (nothing pending, FIFO mark at the end). */
export async function eventDecided (deps: SaleStateDeps, event: Pick<SaleEvent, 'id' | 'shards'>): Promise<boolean> {
  for (const ref of shardRefs(event)) {
    const k = deps.keys.shard(ref)
    const [pending, qseq, drained] = await Promise.all([deps.redis.get(k.pending), deps.redis.get(k.qseq), deps.redis.get(k.drained)])
    if (Number(pending ?? 0) !== 0 || Number(qseq ?? 0) !== Number(drained ?? 0)) return false
  }
  return true
}
