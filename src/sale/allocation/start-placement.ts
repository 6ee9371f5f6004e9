/**
 * The placement of a randomized start's entrants, run by a shard's owner (the drain, step by
 * step between its batches) until it is done:
 *
 * 1. Before the start on MySQL's clock nothing is done, even with the entry list sealed by a buy
 *    (the seal is judged on Redis's clock, which may run ahead): the owner is told how long to
 *    wait. Nothing is sold before the start on MySQL's clock.
 * 2. Otherwise the list is sealed (lua/placeEntrants with no chunk; a no-op if sealed), the sealed
 *    entrants read (frozen from then on), their order drawn from the sale's seed
 *    (HMAC-SHA256(seed, entry id), lowest first: draw.ts), and placed chunk by chunk from where
 *    the placement stands. Each chunk is one script call checking the lease, so a former owner
 *    that wakes late, a second worker or a crash between chunks place nobody twice and lose
 *    nobody: the next owner draws the same order and goes on from `placed`. Reading the entrants
 *    (HSCAN pages) and drawing (drawYielding) give the event loop a turn every few tens of
 *    milliseconds, so the lease's renewal timer runs through a draw of a million entrants.
 * 3. Once every entrant is placed, the placed order (Redis's `startOrder`, complete then and never
 *    changed again) is recorded in MySQL, once; the seed is shown when every shard has recorded.
 *
 * While it runs, the drain decides only positions up to base+placed, in order (those beyond have
 * no ticket until their chunk lands, and must not be mistaken for lost jobs), and applies no
 * return. The drawn order is placed first to last, so a draw's winners are decided while its
 * runners-up are still being placed.
 */
import type { KeySpace, ShardRef } from '../../redis/keys'
import type { RedisClient } from '../../redis/scripts'
import { Place, placeEntrants } from '../../redis/commands'
import type { EventsRepository } from '../../catalog'
import { ticketIdPrefix } from '../../shared/ticket-ids'
import { drawYielding } from './draw'

export interface PlacementDeps {
  readonly redis: RedisClient
  readonly keys: KeySpace
  readonly events: Pick<EventsRepository, 'msUntilStart' | 'startSeed' | 'recordPlacement' | 'recordExclusions'>
}

export type PlacementState =
  | { readonly kind: 'placed', readonly base: number, readonly count: number, readonly ms?: PlacementTimes }
  /**
   * Placed up to position base+placed, more to come: the drain may decide those positions (their
   * tickets and jobs are written, in drawn order) while the rest are placed, so a draw's winners,
   * placed first, are decided in seconds however many runners-up follow.
   */
  | { readonly kind: 'placing', readonly base: number, readonly placed: number, readonly count: number }
  /** Not started on MySQL's clock (sealed or not): ask again in `inMs` (or when rung). */
  | { readonly kind: 'not_yet', readonly inMs: number }
  | { readonly kind: 'lease_lost' }

/** Where a placement's time went (ms of wall time), for the owner's log: reading the entrants, drawing, placing the chunks, recording. */
export interface PlacementTimes { readonly read: number, readonly draw: number, readonly place: number, readonly record: number }

/** Entrants per script call: one call holds Redis about a millisecond per few hundred. */
export const PLACE_CHUNK = 500

/** A step places chunks for about this long, then gives the drain a turn. */
export const PLACE_STEP_MS = 50

/** The whole placement in one call (the simulation's and the tests' way; the drain steps it). */
export async function placeAtStart (deps: PlacementDeps, ref: ShardRef, leaseToken: string, chunk = PLACE_CHUNK): Promise<PlacementState> {
  return await new StartPlacement(deps, ref, leaseToken, chunk, Infinity).step()
}

/**
 * One owner's placement, step by step. The drawn order is a cache of what the sealed entrants and
 * the seed determine: a new owner (or this one after a crash) draws the same order and goes on
 * from `placed` in Redis, which every chunk's script checks.
 */
export class StartPlacement {
  private drawn: { readonly order: readonly string[], readonly byEntry: ReadonlyMap<string, string> } | undefined
  private readonly times = { read: 0, draw: 0, place: 0, record: 0 }

  constructor (
    private readonly deps: PlacementDeps,
    private readonly ref: ShardRef,
    private readonly leaseToken: string,
    private readonly chunk = PLACE_CHUNK,
    private readonly stepMs = PLACE_STEP_MS
  ) {}

  /** Places what a step may (all, with an infinite step), and records the placement once complete. */
  async step (): Promise<PlacementState> {
    const { redis, keys } = this.deps
    const ref = this.ref
    const k = keys.shard(ref)
    const q = keys.buyQueue(ref)
    const prefix = ticketIdPrefix(ref.eventId, ref.shard)
    if (this.drawn === undefined) {
      const inMs = await this.deps.events.msUntilStart(ref.eventId)
      if (inMs === undefined) throw new Error(`event ${ref.eventId} is gone`)
      if (inMs > 0) return { kind: 'not_yet', inMs }
    }
    let state = await placeEntrants(redis, k, q, prefix, this.leaseToken, 0, 0, [])
    if (state.code === Place.LEASE_LOST) return { kind: 'lease_lost' }
    if (state.code === Place.NOT_WARM) return { kind: 'not_yet', inMs: 100 }
    let mark = performance.now()
    const lap = (phase: keyof PlacementTimes): void => { const now = performance.now(); this.times[phase] += Math.round(now - mark); mark = now }
    if (state.placed < state.sealed) {
      if (this.drawn === undefined || this.drawn.order.length !== state.sealed) {
        const byEntry = await sealedEntrants(redis, k.entrants)
        lap('read')
        if (byEntry.size !== state.sealed) throw new Error(`shard ${k.tag}: ${byEntry.size} entrants, ${state.sealed} sealed`)
        const seed = await this.deps.events.startSeed(ref.eventId)
        if (seed === undefined) throw new Error(`event ${ref.eventId} has no start seed`)
        const { order } = await drawYielding(seed, [...byEntry.keys()], 0)
        this.drawn = { order, byEntry }
        lap('draw')
      }
      const { order, byEntry } = this.drawn
      const until = mark + this.stepMs
      while (state.placed < state.sealed) {
        const from = state.placed
        const part = order.slice(from, from + this.chunk).map((entry) => `${byEntry.get(entry) as string}:${entry}`)
        state = await placeEntrants(redis, k, q, prefix, this.leaseToken, from, order.length, part)
        if (state.code === Place.LEASE_LOST) return { kind: 'lease_lost' }
        if (state.code === Place.NOT_WARM) return { kind: 'not_yet', inMs: 100 }
        if (state.code === Place.REFUSED) throw new Error(`shard ${k.tag}: placement refused at ${from}`)
        if (state.placed < state.sealed && performance.now() >= until) {
          lap('place')
          return { kind: 'placing', base: state.base, placed: state.placed, count: state.sealed }
        }
      }
    }
    lap('place')
    // Complete: the order never changes again while the shard lives. Read with `placed` in one
    // MULTI so a list read mid-placement is never recorded.
    const [[, placed], [, seal], [, placedOrder]] = await redis.multi().get(k.startPlaced).get(k.startSeal).lrange(k.startOrder, 0, -1).exec() as [[null, string | null], [null, string | null], [null, string[]]]
    const [base, n] = (seal ?? '0:0').split(':').map(Number) as [number, number]
    if (Number(placed ?? 0) !== n || placedOrder.length !== n) return { kind: 'not_yet', inMs: 50 }
    // Before the placement: whoever reads the placement finds the exclusions with it.
    await this.deps.events.recordExclusions(ref.eventId, { shard: ref.shard, base, excluded: await bornBanned(redis, k.tickets, base, placedOrder) })
    await this.deps.events.recordPlacement(ref.eventId, { shard: ref.shard, base, order: placedOrder })
    lap('record')
    this.drawn = undefined
    return { kind: 'placed', base, count: n, ms: { ...this.times } }
  }
}

/** Entrants read per HSCAN call. */
const SCAN_COUNT = 10_000

/**
 * The sealed entrants, entry id -> user, read a page at a time (HSCAN), not in one HGETALL: a
 * million entrants in one reply held Redis, and then this process's loop while parsing it, for
 * seconds, longer than the lease's renewal period. The list is frozen once sealed, so every
 * entrant is seen (a scan returns every field present throughout it, some maybe twice: kept once).
 */
async function sealedEntrants (redis: RedisClient, key: string): Promise<Map<string, string>> {
  const byEntry = new Map<string, string>()
  let cursor = '0'
  do {
    const [next, fields] = await redis.hscan(key, cursor, 'COUNT', SCAN_COUNT)
    for (let i = 0; i + 1 < fields.length; i += 2) byEntry.set(fields[i + 1] as string, fields[i] as string)
    cursor = next
  } while (cursor !== '0')
  return byEntry
}

/** Tickets read per HMGET when looking for the excluded entrants. */
const READ_CHUNK = 10_000

/**
 * The entry ids of `order` (placed at positions base+1 ..) whose ticket is `failed` with reason
 * `banned`: banned before the placement, so lua/placeEntrants gave them no chance of a unit. The
 * drain may have decided some placed tickets by now, but it never writes `failed|banned`: only
 * the placement does, so what is read here is what the placement wrote.
 */
async function bornBanned (redis: RedisClient, tickets: string, base: number, order: readonly string[]): Promise<string[]> {
  const excluded: string[] = []
  for (let from = 0; from < order.length; from += READ_CHUNK) {
    const positions = order.slice(from, from + READ_CHUNK).map((_, i) => String(base + from + i + 1))
    const values = await redis.hmget(tickets, ...positions)
    values.forEach((v, i) => { if (v !== null && v.endsWith('|failed|banned')) excluded.push(order[from + i] as string) })
  }
  return excluded
}
