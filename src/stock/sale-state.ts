/**
 * The hot state of a sale in Redis: per-shard stock, the sold-out declaration, the ticket holders.
 * Everything here can be rebuilt from MySQL (warm-up uses stock − sold).
 */
import type { ShardKeys, ShardRef } from '../redis/keys'
import type { SaleStateDeps } from './deps'
import { allShardKeys } from '../redis/keys'
import type { RedisClient } from '../redis/scripts'
import { Close, Warm, claimShard, closeShard, readFreeUnits, reopenShard, warmShard } from './scripts'
import type { Knex } from 'knex'
import { fenceSiblings } from './shard-lease'
import { parseTicketId } from '../shared/ticket-ids'
import type { SaleEvent } from '../shared/sale-event'
import { DEFAULT_LEAD_MS, MAX_ENTRANTS_PER_SHARD } from '../shared/allocation'
import { signalReturns } from './unit-returns'

/** Where MySQL's orders of an event are, to rebuild shards that Redis lost. */
export type OrderTickets = (eventId: number, trx?: Knex.Transaction) => Promise<Array<{ ticketId: string, live: boolean, unitShard: number | null }>>

/** What MySQL knows of a sale's past, for warm-ups that may be rebuilds (the events repository). */
export interface SaleHistory {
  readonly orderTickets: OrderTickets
  /** The event as MySQL has it now (read again after fencing, and under the rebuild lock). */
  readonly findById: (eventId: number, trx?: Knex.Transaction) => Promise<SaleEvent | undefined>
  /** Raises a shard's fencing number: from then on its former owner commits nothing. */
  readonly raiseFence: (ref: ShardRef) => Promise<number>
  /** Records units surviving shards hold for tickets Redis lost, as returns (unit_returns). */
  readonly recordLostUnits: (eventId: number, units: ReadonlyArray<{ shard: number, ticketId: string }>, trx?: Knex.Transaction) => Promise<void>
  /** Records the first warm-up, so a later one that finds Redis empty knows it is a rebuild. */
  readonly markWarmed: (eventId: number, trx?: Knex.Transaction) => Promise<void>
  /** Banned buyers: copied into each shard before its stock, so none is admitted meanwhile. */
  readonly bannedUsers: () => Promise<string[]>
  /** Runs `fn` under the event's row lock (one rebuild at a time), with MySQL's now in ms. */
  readonly underRebuildLock: <T>(eventId: number, fn: (trx: Knex.Transaction | undefined, nowMs: number) => Promise<T>) => Promise<T>
  /** A new rebuild fence, committed at once: never handed out twice. */
  readonly nextRebuildFence: (eventId: number) => Promise<number>
  /** Each shard's current fencing number (shard_fences). */
  readonly shardFences: (eventId: number, trx?: Knex.Transaction) => Promise<Map<number, number>>
}

/**
 * First queue position of a shard rebuilt at `now`: past any position handed out since the start.
 * Redis runs far less than one script per microsecond, so a shard cannot have handed out more
 * positions than microseconds have passed since the start, counting any earlier rebuild's floor.
 *
 * A randomized start's seal hands out a position per entrant at once (up to
 * MAX_ENTRANTS_PER_SHARD, lua/admitRandomStart refuses more), and seals on Redis's clock, which may
 * run ahead of MySQL's: its floor counts from the opening of the lead window and adds the cap.
 */
export function rebuildFloor (event: Pick<SaleEvent, 'startAt' | 'entry' | 'leadMs'>, now: number): number {
  if (event.entry === 'random_at_start') {
    const opensAt = event.startAt.getTime() - (event.leadMs ?? DEFAULT_LEAD_MS)
    return Math.max(0, Math.ceil((now - opensAt) * 1000)) + MAX_ENTRANTS_PER_SHARD
  }
  return Math.max(0, Math.ceil((now - event.startAt.getTime()) * 1000))
}

/** Units of each shard when `units` are split over `shards` (the first shards take the remainder). */
export function splitStock (units: number, shards: number): number[] {
  const base = Math.floor(units / shards)
  const extra = units % shards
  return Array.from({ length: shards }, (_, i) => base + (i < extra ? 1 : 0))
}

function shardRefs (event: Pick<SaleEvent, 'id' | 'shards'>): ShardRef[] {
  return Array.from({ length: event.shards }, (_, shard) => ({ eventId: event.id, shard }))
}

async function missingShards (deps: SaleStateDeps, event: Pick<SaleEvent, 'id' | 'shards'>): Promise<ShardRef[]> {
  const stocks = await shardStocks(deps, event)
  return shardRefs(event).filter((ref) => stocks[ref.shard] === undefined)
}

/** What a warm-up did, for what has to happen once its lock is let go. */
interface Warmed {
  readonly warmed: number
  readonly rebuild: boolean
  readonly left: number
  readonly lentToLost: ReadonlyArray<{ shard: number, ticketId: string }>
  /** A newer rebuild had claimed a shard: this one warmed nothing. */
  readonly superseded: boolean
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
 *   2. The rest runs under the event's row lock in MySQL, one rebuild of the event at a time
 *      across every process: an order write, a cancel or an expiry of the event updates that row,
 *      so none commits between the count and the warm-up (a cancel read as live by one rebuild
 *      and as cancelled by another gave the sale one unit too few). The rebuild claims every shard
 *      with its own fence before it reads them (lua/claimShard), and warms a shard only while that
 *      claim is the newest (lua/warmShard): a rebuild that lost its lock changes nothing.
 *   3. Each unit is in exactly one place. A surviving shard's units are its free stock plus the
 *      units it holds (stock and reservations, read together; batches, borrows and returns move
 *      units inside a shard, never out of it). The lost shards' units are the rest: those held for
 *      live orders (marked held again, in the warm-up's own call) and the free ones. A cancel
 *      read as cancelled is free here, and its return finds nothing held; one that commits after
 *      the lock finds its unit held, and its return gives it back.
 *   4. Its queue positions start after the highest one its orders use and after any position that
 *      may have been handed out (the tickets at or under that floor whose state is gone read as
 *      failed, `lost_in_redis`). So a ticket id is never handed out twice.
 */
export async function warmEvent (deps: SaleStateDeps, given: SaleEvent, history: SaleHistory = noHistory(given)): Promise<number> {
  if ((await missingShards(deps, given)).length === 0) return 0
  // One rebuild of an event at a time in this process too: the buys that find a flushed sale
  // wait for the one rebuild rather than each holding a MySQL connection while they wait for the
  // lock (a pool of waiters would leave the rebuild none).
  let flights = rebuildsInFlight.get(deps.redis)
  if (flights === undefined) {
    flights = new Map()
    rebuildsInFlight.set(deps.redis, flights)
  }
  const key = `${deps.keys.prefix}:${given.id}`
  const flying = flights.get(key)
  if (flying !== undefined) return await flying.then(() => 0, () => 0)
  const mine = flights
  const flight = rebuild(deps, given, history).finally(() => mine.delete(key))
  mine.set(key, flight)
  return await flight
}

/** Rebuilds running in this process, per Redis client (one per process), by key prefix and event. */
const rebuildsInFlight = new WeakMap<RedisClient, Map<string, Promise<number>>>()

async function rebuild (deps: SaleStateDeps, given: SaleEvent, history: SaleHistory): Promise<number> {
  // Read again in any case: the row given may be older than an edit (a worker's discovery round).
  const event = await history.findById(given.id) ?? given
  const isRebuild = event.warmedAt !== null
  if (isRebuild) {
    // Every owner is a former owner now: none may borrow from a sibling either, the rebuilt ones
    // included (recorded before they are warmed, and again under the lock).
    for (const ref of shardRefs(event)) await fenceSiblings(deps.redis, deps.keys, ref, event.shards, await history.raiseFence(ref))
  } else {
    // Durable before Redis is touched: should this first warm-up fail midway, the next one is a
    // rebuild (it reads the orders), never a first warm-up over a sale that sold.
    await history.markWarmed(event.id)
  }
  // Committed before the lock, so a rebuild that loses its lock keeps a fence no later one reuses.
  // Read before the lock, on a connection of its own: under the lock only its transaction is used.
  // A ban made since is copied into the shards by the ban itself.
  const banned = await history.bannedUsers()
  let done: Warmed = { warmed: 0, rebuild: isRebuild, left: 0, lentToLost: [], superseded: true }
  // A newer rebuild's claim found under the lock (it took its fence while this one waited): when
  // shards are missing again, this one goes again with a new fence.
  for (let attempt = 0; attempt < 3 && done.superseded && (attempt === 0 || (await missingShards(deps, event)).length > 0); attempt++) {
    // Committed before the lock, so a rebuild that loses its lock keeps a fence no later one reuses.
    const fence = await history.nextRebuildFence(event.id)
    done = await history.underRebuildLock(event.id, async (trx, nowMs) => await warmLocked(deps, event, history, { trx, fence, nowMs, banned, isRebuild }))
  }
  if (done.lentToLost.length > 0) {
    // After the commit: the owners find the returns when the signal wakes them.
    await signalReturns(deps, [...new Set(done.lentToLost.map((u) => u.shard))].map((s) => ({ eventId: event.id, shard: s })))
  }
  if (done.rebuild && done.left > 0 && done.warmed > 0) {
    // A rebuild put units back where Redis had lost them: a sold-out announcement made before the
    // loss is stale, and every ingress must stop answering sold_out from it.
    await deps.redis.del(deps.keys.event(event.id).soldOut)
    await deps.redis.publish(deps.keys.eventStateChannel, `${event.id}:0`)
  }
  return done.warmed
}

/** What a warm-up under the lock works with. */
interface LockedWarm {
  readonly trx: Knex.Transaction | undefined
  readonly fence: number
  /** MySQL's clock as the lock was taken (ms). */
  readonly nowMs: number
  readonly banned: readonly string[]
  readonly isRebuild: boolean
}

/** Steps 2-4 of `warmEvent`, under the event's row lock and the rebuild's fence. */
async function warmLocked (deps: SaleStateDeps, given: SaleEvent, history: SaleHistory, locked: LockedWarm): Promise<Warmed> {
  const { trx, fence, banned } = locked
  const event = await history.findById(given.id, trx) ?? given
  const rebuild = locked.isRebuild
  const nothing: Warmed = { warmed: 0, rebuild, left: 0, lentToLost: [], superseded: false }
  // Another rebuild may have gone first while this one waited for the lock.
  if ((await missingShards(deps, event)).length === 0) return nothing
  for (const ref of shardRefs(event)) {
    if (!await claimShard(deps.redis, deps.keys.shard(ref), fence)) return { ...nothing, superseded: true }
  }
  const missing = await missingShards(deps, event)
  if (missing.length === 0) return nothing
  if (rebuild) {
    // Again under the lock: a flush since the fences were raised took the siblings' records.
    const fences = await history.shardFences(event.id, trx)
    for (const ref of shardRefs(event)) await fenceSiblings(deps.redis, deps.keys, ref, event.shards, fences.get(ref.shard) ?? 0)
  }
  const orders = rebuild ? await history.orderTickets(event.id, trx) : []
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
  // Committed on its own before any shard is warmed: a rebuild whose transaction then fails must
  // not leave these units held for tickets that are gone, with no return to bring them back.
  if (lentToLost.length > 0) await history.recordLostUnits(event.id, lentToLost)
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
  const floor = rebuild ? rebuildFloor(event, locked.nowMs) : 0
  const results = await Promise.all(missing.map(async (ref) => {
    const siblings = units.map((u, i) => [i, u] as const).filter(([i]) => i !== ref.shard)
    const k = deps.keys.shard(ref)
    for (let i = 0; i < banned.length; i += 1000) await deps.redis.sadd(k.banned, ...banned.slice(i, i + 1000))
    // A lost shard's waitlist (a sale that keeps one) may be partly gone with it and names
    // positions that are handed out again: it starts empty, as the buyers' tickets do (they buy
    // again). Only while the shard is still not warm (a newer rebuild may have warmed it).
    if (rebuild && await deps.redis.exists(k.stock) === 0) await deps.redis.del(...Object.values(deps.keys.waitlist(ref)))
    const plan = { units: units[ref.shard] ?? 0, siblings, firstMark: marks[ref.shard] ?? 0, floor, fence, held: held[ref.shard] ?? [] }
    return await warmShard(deps.redis, k, plan)
  }))
  return { warmed: results.filter((w) => w === Warm.WARMED).length, rebuild, left, lentToLost, superseded: results.some((w) => w === Warm.FENCED) }
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
    bannedUsers: async () => [],
    underRebuildLock: async (_id, fn) => await fn(undefined, Date.now()),
    nextRebuildFence: async () => 0,
    shardFences: async () => new Map()
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
  await Promise.all(shardRefs(event).map(async (ref) => await deps.redis.del(...allShardKeys(deps.keys.shard(ref)), ...Object.values(deps.keys.waitlist(ref)))))
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

/** What an owner's look at its sale found (`closeGateIfSaleEmpty`). */
export type GateLook = 'closed' | 'open' | 'lease_lost'

/**
 * The owner of `ref` closes its own gate when no shard of the event has an unreserved unit left
 * (nothing it could sell or borrow), and whoever closes the last open gate announces the event
 * sold out to every ingress. Only the caller's own gate: a sibling's gate is closed by the
 * sibling's owner, between its own batches, when asked (`closedHere` true: the caller rings the
 * siblings' doorbells). A gate reopens the same way, by its owner (`reopenGate`), when units come
 * back; the announcement is withdrawn when any gate is found open again.
 *
 * The announcement is a hint for the ingresses' memory, never the last word: a buyer is told
 * sold_out from memory only once lua/confirmSoldOut finds the shard's gate closed.
 */
export async function closeGateIfSaleEmpty (deps: SaleStateDeps, event: Pick<SaleEvent, 'id' | 'shards'>, ref: ShardRef, leaseToken: string): Promise<{ look: GateLook, closedHere: boolean }> {
  const k = deps.keys.shard(ref)
  let closedHere = false
  if (await deps.redis.exists(k.closed) === 0) {
    const stocks = await shardStocks(deps, event)
    if (stocks.some((s) => s === undefined || s > 0)) return { look: 'open', closedHere }
    const closed = await closeShard(deps.redis, k, leaseToken)
    if (closed === Close.LEASE_LOST) return { look: 'lease_lost', closedHere }
    if (closed === Close.UNITS_LEFT) return { look: 'open', closedHere }
    closedHere = true
  }
  await announceSoldOutIfClosed(deps, event)
  return { look: 'closed', closedHere }
}

async function gatesClosed (deps: SaleStateDeps, event: Pick<SaleEvent, 'id' | 'shards'>): Promise<boolean[]> {
  return await Promise.all(shardRefs(event).map(async (ref) => await deps.redis.exists(deps.keys.shard(ref).closed) === 1))
}

/** Sets the event's sold-out flag and tells every ingress once every gate is closed. */
async function announceSoldOutIfClosed (deps: SaleStateDeps, event: Pick<SaleEvent, 'id' | 'shards'>): Promise<void> {
  if (await isDeclaredSoldOut(deps, event.id)) return
  if ((await gatesClosed(deps, event)).some((c) => !c)) return
  await deps.redis.set(deps.keys.event(event.id).soldOut, '1')
  await deps.redis.publish(deps.keys.eventStateChannel, `${event.id}:1`)
  // A gate that reopened while this looked (units came back) must not stay hidden behind the flag.
  if ((await gatesClosed(deps, event)).some((c) => !c) && await deps.redis.del(deps.keys.event(event.id).soldOut) === 1) {
    await deps.redis.publish(deps.keys.eventStateChannel, `${event.id}:0`)
  }
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
  // A randomized start's entrants count as pending until the seal does it (as in lua/borrowStock):
  // their units are not free for a sibling's later buyers.
  const free = await readFreeUnits(deps.redis, deps.keys.shard({ eventId: event.id, shard: holder }))
  await Promise.all(shardRefs(event).filter((r) => r.shard !== holder).map(async (r) =>
    await deps.redis.hset(deps.keys.shard(r).peers, String(holder), free)))
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

/**
 * True when every admitted ticket of the event has been decided (nothing pending, FIFO mark at the
 * end). A randomized start's shard with entrants is decided only once they are all placed (sealed,
 * `placed` = the sealed n): before the seal they hold no position and are not in `pending`, so
 * pending 0 and qseq = drained say nothing about them, and a sale retired then would leave them
 * awaiting the draw with its units unsold (I3, I5).
 */
export async function eventDecided (deps: SaleStateDeps, event: Pick<SaleEvent, 'id' | 'shards'>): Promise<boolean> {
  for (const ref of shardRefs(event)) {
    const k = deps.keys.shard(ref)
    const [pending, qseq, drained, entrants, seal, placed] = await Promise.all([
      deps.redis.get(k.pending), deps.redis.get(k.qseq), deps.redis.get(k.drained),
      deps.redis.hlen(k.entrants), deps.redis.get(k.startSeal), deps.redis.get(k.startPlaced)
    ])
    if (Number(pending ?? 0) !== 0 || Number(qseq ?? 0) !== Number(drained ?? 0)) return false
    if (entrants > 0 && (seal === null || Number(placed ?? 0) < Number(seal.split(':')[1] ?? 0))) return false
  }
  return true
}
