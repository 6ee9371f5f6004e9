/**
 * Drains one batch of a shard's tickets, in FIFO order:
 *
 *   1. reserve units of the shard's own stock (lua reserveStock, idempotent per ticket);
 *   2. tickets left without a unit borrow one from sibling shards (lua borrowStock, check every
 *      sibling first so a retried batch never holds units in two shards);
 *   3. one MySQL transaction writes the winners' orders and bumps `sold` under `sold + n <= stock`
 *      (the order write, src/orders: its SQL and rules live there);
 *   4. units of tickets that cannot get an order go back to the sale: the write records them
 *      (unit_returns) and the shard holding each applies it between its batches;
 *   5. outcomes are written, the FIFO mark advances, pollers are told (lua finishTickets).
 *
 * The steps form three stages, reserve (1, 2), write (3) and finish (4, 5), which the drainer may
 * run as separate tasks so that consecutive batches overlap: batch k+1 reserves while batch k
 * writes, and writes while batch k finishes. Each stage runs in batch order, so FIFO holds.
 *
 * Any stage may be interrupted and the whole batch run again: nothing is reserved twice (steps 1
 * and 2 remember each ticket), nothing is written twice (orders.ticket_id is unique and existing
 * orders are found first), nothing is given back twice (a ticket's return is recorded once, and
 * applied only once the ticket is final, so a replayed batch still finds its unit reserved).
 *
 * This module is plain logic over a Redis client and a Knex instance; `drain-task.ts` runs it on
 * piscina threads.
 */
import type { Knex } from 'knex'
import type { KeySpace } from '../src/redis/keys'
import type { RedisClient } from '../src/redis/scripts'
import { Borrow, Reserve, borrowStock, finishTickets, reserveStock, startEpoch } from '../src/stock'
import { signalReturns } from '../src/stock'
import type { TicketDecision } from '../src/stock'
import { ticketIdPrefix } from '../src/shared/ticket-ids'
import type { FailReason } from '../src/sale'
import { existingOrders, unitGoesBack, writeParts } from '../src/orders'
import type { OrderWriteSettings, Winner, WriteResult } from '../src/orders'

interface BatchTicket {
  readonly qpos: number
  readonly userId: string
}

export interface DrainBatchInput {
  readonly eventId: number
  readonly shard: number
  readonly shards: number
  readonly leaseToken: string
  /** The shard's fencing number under that lease: the order write commits only while it is current. */
  readonly fence: number
  /** A contiguous run of queue positions, in order. */
  readonly positions: readonly number[]
  /** Drain rate to record for ETAs (tickets per second), or 0 to keep the last one. */
  readonly rate: number
  /** The batch span's traceparent when it is traced (src/tracing/spans.ts); the stages' spans go under it. */
  readonly trace?: string
}

export type TicketOutcome =
  | { readonly qpos: number, readonly status: 'won', readonly orderId: string }
  | { readonly qpos: number, readonly status: 'sold_out' }
  | { readonly qpos: number, readonly status: 'failed', readonly reason: FailReason }
  /** Already final before this batch, or unknown: nothing changed. */
  | { readonly qpos: number, readonly status: 'skipped' }

export interface DrainBatchResult {
  readonly leaseLost: boolean
  readonly outcomes: readonly TicketOutcome[]
  /** The shard's unreserved units and undecided tickets after the batch. */
  readonly stock: number
  readonly pending: number
  /** Free units (stock − pending) seen at siblings while borrowing: [shard, free]. */
  readonly siblingsFree: ReadonlyArray<readonly [number, number]>
  readonly reserveMs: number
  readonly writeMs: number
  /** Giving back units of winners without an order, and writing the outcomes. */
  readonly finishMs: number
}

export interface DrainDeps {
  readonly redis: RedisClient
  readonly db: Knex
  readonly keys: KeySpace
  readonly orderWrites: OrderWriteSettings
  /** Test-only fault injection; called at named points. */
  readonly fault?: (point: 'after-reserve' | 'after-commit') => Promise<void>
}

/**
 * Where a ticket's unit is held: its own shard, or the sibling it borrowed from; `fresh` when this
 * run of the batch reserved it (not an earlier run's reservation found again).
 */
export interface Holding { readonly shard: number, readonly local: boolean, readonly fresh: boolean }

/** What the reserve stage found: every ticket's buyer, and where each winner's unit is held. */
export interface Reservation {
  readonly leaseLost: boolean
  readonly tickets: readonly BatchTicket[]
  readonly holding: ReadonlyArray<readonly [number, Holding]>
  /** Positions already final (or unknown): nothing to do for them. */
  readonly skipped: readonly number[]
  readonly siblingsFree: ReadonlyArray<readonly [number, number]>
  readonly reserveMs: number
  /** Positions of this batch went through a reservation before (a replay): tickets left without a
   *  unit may have had one, and an order, before Redis lost the lender's state. */
  readonly replay?: boolean
}

/** What the write stage decided for each reserved ticket, by queue position. */
export interface Written {
  /** The shard changed owner: nothing was written. */
  readonly leaseLost: boolean
  readonly results: ReadonlyArray<readonly [number, WriteResult]>
  readonly writeMs: number
}

/** Steps 1 and 2: units for the batch's tickets, own stock first, then borrowed. */
export async function reserveBatch (deps: DrainDeps, input: DrainBatchInput): Promise<Reservation> {
  const { eventId, shard, shards } = input
  const own = deps.keys.shard({ eventId, shard })
  const idOf = ticketIdOf(eventId, shard)
  const t0 = performance.now()

  // 0. A replayed batch (its positions went through a reservation before) may hold units borrowed
  // from siblings: those are found first, so a ticket never takes a unit in two shards (a unit
  // may have come back to this shard's stock since).
  const elsewhere = shards > 1 ? await earlierBorrows(deps, input) : new Map<number, number>()
  if (elsewhere === 'lease_lost') return LEASE_LOST_RESERVATION

  // 1. Own stock.
  const ownPositions = elsewhere.size === 0 ? input.positions : input.positions.filter((q) => !elsewhere.has(q))
  const reserved = await reserveStock(deps.redis, own, input.leaseToken, ticketIdPrefix(eventId, shard), ownPositions)
  if (reserved.leaseLost) return LEASE_LOST_RESERVATION

  // The buyers come from the stored tickets, read by the reservation itself (or read here for
  // the tickets holding a unit elsewhere).
  const byQpos = new Map(ownPositions.map((q, i) => [q, reserved.results[i]]))
  const stored = elsewhere.size === 0 ? [] : await deps.redis.hmget(own.tickets, ...[...elsewhere.keys()].map(String))
  const storedOf = new Map([...elsewhere.keys()].map((q, i) => [q, stored[i] ?? null]))
  const tickets: BatchTicket[] = input.positions.map((qpos) => ({ qpos, userId: byQpos.get(qpos)?.userId ?? (storedOf.get(qpos) ?? '').split('|')[0] ?? '' }))
  const holding = new Map<number, Holding>()
  const open: BatchTicket[] = []
  const skipped: number[] = []
  for (const t of tickets) {
    const lender = elsewhere.get(t.qpos)
    if (lender !== undefined) {
      if ((storedOf.get(t.qpos) ?? '').includes('|queued|')) holding.set(t.qpos, { shard: lender, local: false, fresh: false })
      else skipped.push(t.qpos)
      continue
    }
    const r = byQpos.get(t.qpos)?.result
    if (r === Reserve.NOW || r === Reserve.BEFORE) holding.set(t.qpos, { shard, local: true, fresh: r === Reserve.NOW })
    else if (r === Reserve.NONE) open.push(t)
    else skipped.push(t.qpos)
  }

  // 2. Borrow from siblings, in a fixed order so every retry looks in the same places.
  const siblingsFree: Array<[number, number]> = []
  const borrower = { shard, fence: input.fence }
  if (open.length > 0 && shards > 1) {
    const siblings = Array.from({ length: shards - 1 }, (_, i) => (shard + 1 + i) % shards)
    for (const mode of ['check', 'take'] as const) {
      for (const sibling of siblings) {
        const waiting = open.filter((t) => !holding.has(t.qpos))
        if (waiting.length === 0) break
        // Fenced in the lender's slot: an owner that stalled here and woke after a takeover takes nothing.
        const reply = await borrowStock(deps.redis, deps.keys.shard({ eventId, shard: sibling }), borrower, mode, waiting.map((t) => idOf(t.qpos)))
        if (reply === 'lease_lost') return LEASE_LOST_RESERVATION
        if (mode === 'take') siblingsFree.push([sibling, Math.max(0, reply.stock - reply.pending)])
        waiting.forEach((t, i) => {
          const r = reply.results[i]
          if (r === Borrow.NOW || r === Borrow.BEFORE) holding.set(t.qpos, { shard: sibling, local: false, fresh: r === Borrow.NOW })
        })
      }
    }
  }
  // Units borrowed from a sibling that got units back since this shard last looked may be such
  // units: this shard's FIFO epoch ends before the first ticket of this batch holding a borrowed
  // unit (lua/startEpoch). Not before the batch: a replay's batch may begin earlier than the
  // original one did (batches are cut anew), and its positions before that ticket were decided
  // without the unit -- a boundary put below them would cut the epoch the original run started
  // and put a loser in the same epoch as the later winner (simulation seed 5545: position 3 lost
  // while 4, holding a unit borrowed after a return, won).
  const borrowers = [...holding].filter(([, h]) => !h.local)
  const lenders = [...new Set(borrowers.map(([, h]) => h.shard))]
  if (lenders.length > 0) {
    const gens = await Promise.all(lenders.map(async (s) => [s, Number(await deps.redis.get(deps.keys.shard({ eventId, shard: s }).returnsGen) ?? 0)] as const))
    const boundary = Math.min(...borrowers.map(([qpos]) => qpos)) - 1
    if (await startEpoch(deps.redis, own, input.leaseToken, boundary, gens) === 'lease_lost') return LEASE_LOST_RESERVATION
  }
  const replay = (input.positions[0] ?? Number.POSITIVE_INFINITY) <= reserved.reservedUpTo
  return { leaseLost: false, tickets, holding: [...holding], skipped, siblingsFree, reserveMs: performance.now() - t0, replay }
}

/** For a replayed batch of a sharded event: tickets already holding a unit at a sibling (position -> sibling). */
async function earlierBorrows (deps: DrainDeps, input: DrainBatchInput): Promise<Map<number, number> | 'lease_lost'> {
  const { eventId, shard, shards } = input
  const found = new Map<number, number>()
  const upTo = Number(await deps.redis.get(deps.keys.shard({ eventId, shard }).reservedUpTo) ?? 0)
  if ((input.positions[0] ?? Number.POSITIVE_INFINITY) > upTo) return found
  const idOf = ticketIdOf(eventId, shard)
  for (let i = 1; i < shards; i++) {
    const sibling = (shard + i) % shards
    const waiting = input.positions.filter((q) => !found.has(q))
    if (waiting.length === 0) break
    const reply = await borrowStock(deps.redis, deps.keys.shard({ eventId, shard: sibling }), { shard, fence: input.fence }, 'check', waiting.map(idOf))
    if (reply === 'lease_lost') return reply
    waiting.forEach((q, j) => { if (reply.results[j] === Borrow.BEFORE) found.set(q, sibling) })
  }
  return found
}

/** One shard's batch in a write: what it reserved. */
interface WritePart {
  readonly input: DrainBatchInput
  readonly reservation: Reservation
}

/** Step 3: the winners' orders, in one transaction. */
export async function writeBatch (deps: DrainDeps, input: DrainBatchInput, reservation: Reservation): Promise<Written> {
  return (await writeBatches(deps, [{ input, reservation }]))[0] as Written
}

/**
 * Step 3 for several shards' batches at once (none two of the same shard), in one transaction: with
 * many small sales live, a batch carries a few tickets and the commit is most of its cost, so the
 * drain writes what every shard has ready with one commit. Each part is written exactly as alone
 * (its own locking read of its event row and fencing number, in event and shard order so two such
 * writes never wait on each other's rows); a part whose lease is lost writes nothing and the others
 * go on. Any failure undoes them all, and each shard retries its batch.
 */
export async function writeBatches (deps: DrainDeps, parts: readonly WritePart[]): Promise<Written[]> {
  await deps.fault?.('after-reserve')
  const t1 = performance.now()
  const plans = await Promise.all(parts.map(async (p) => await planWrite(deps, p.input, p.reservation)))
  const written = new Map<number, Map<number, WriteResult> | 'lease_lost'>()
  const order = plans.map((_, i) => i).filter((i) => (plans[i]?.winners.length ?? 0) > 0)
    .sort((a, b) => (parts[a]?.input.eventId ?? 0) - (parts[b]?.input.eventId ?? 0) || (parts[a]?.input.shard ?? 0) - (parts[b]?.input.shard ?? 0))
  const writing = order.map((i) => {
    const { input } = parts[i] as WritePart
    return { eventId: input.eventId, winners: (plans[i] as WritePlan).winners, fence: { shard: input.shard, fence: input.fence } }
  })
  // One part: the single write (its own transaction); several: their statements joined in one
  // transaction (src/orders joint-write.ts).
  const out = await writeParts(deps.db, writing, deps.orderWrites)
  order.forEach((i, k) => written.set(i, out[k] as Map<number, WriteResult> | 'lease_lost'))
  const writeMs = performance.now() - t1
  return plans.map((plan, i) => {
    const w = written.get(i)
    if (w === 'lease_lost') return { leaseLost: true, results: [], writeMs }
    return { leaseLost: false, results: [...(w ?? new Map<number, WriteResult>()), ...plan.prior], writeMs }
  })
}

interface WritePlan {
  readonly winners: Winner[]
  /** Orders found for a replay's tickets left without a unit. */
  readonly prior: Array<[number, WriteResult]>
}

async function planWrite (deps: DrainDeps, input: DrainBatchInput, reservation: Reservation): Promise<WritePlan> {
  const idOf = ticketIdOf(input.eventId, input.shard)
  const holding = new Map(reservation.holding)
  // A replayed batch's tickets without a unit may have won before the unit's holder lost it in
  // Redis: their orders stand, and their outcome is that order (never sold_out beside an order).
  const skipped = new Set(reservation.skipped)
  const unheld = reservation.replay === true ? reservation.tickets.filter((t) => !holding.has(t.qpos) && !skipped.has(t.qpos)) : []
  const found = unheld.length > 0 ? await existingOrders(deps.db, unheld.map((t) => idOf(t.qpos))) : new Map<string, string>()
  const prior: Array<[number, WriteResult]> = unheld.flatMap((t) => {
    const orderId = found.get(idOf(t.qpos))
    return orderId === undefined ? [] : [[t.qpos, { kind: 'won', orderId }] as [number, WriteResult]]
  })
  // Built field by field: spreading the tickets (objects that came through postMessage) cost about
  // 3 µs each, the largest item of a drain thread's own code in a CPU profile of bench:drain.
  const winners: Winner[] = []
  for (const t of reservation.tickets) {
    const h = holding.get(t.qpos)
    if (h !== undefined) winners.push({ qpos: t.qpos, userId: t.userId, ticketId: idOf(t.qpos), unitShard: h.shard, freshUnit: h.fresh })
  }
  return { winners, prior }
}

/** Steps 4 and 5: units of winners without an order go back; outcomes are written and announced. */
export async function finishBatch (deps: DrainDeps, input: DrainBatchInput, reservation: Reservation, writtenStage: Written): Promise<DrainBatchResult> {
  if (writtenStage.leaseLost) return LEASE_LOST
  await deps.fault?.('after-commit')
  const t2 = performance.now()
  const { eventId, shard } = input
  const own = deps.keys.shard({ eventId, shard })
  const holding = new Map(reservation.holding)
  const written = new Map(writtenStage.results)
  const skipped = new Set(reservation.skipped)

  // 4. Units the write gave back (a winner holding another order already, or a replay's new unit
  // for a ticket whose order stands) were recorded as returns; the shards holding them apply them
  // between their batches.
  const holders = new Set<number>()
  for (const t of reservation.tickets) {
    const w = written.get(t.qpos)
    const h = holding.get(t.qpos)
    if (w !== undefined && h !== undefined && unitGoesBack(w, h)) holders.add(h.shard)
  }

  // 5. Outcomes.
  const outcomes: TicketOutcome[] = []
  const decisions: TicketDecision[] = []
  for (const t of reservation.tickets) {
    let outcome: TicketOutcome
    if (skipped.has(t.qpos)) {
      outcome = { qpos: t.qpos, status: 'skipped' }
    } else if (!holding.has(t.qpos) && !written.has(t.qpos)) {
      outcome = { qpos: t.qpos, status: 'sold_out' }
    } else {
      const w = written.get(t.qpos) as WriteResult
      outcome = w.kind === 'won' ? { qpos: t.qpos, status: 'won', orderId: w.orderId } : { qpos: t.qpos, status: 'failed', reason: w.reason }
    }
    outcomes.push(outcome)
    // A ticket leaves `pending` when it reserves in its own shard; every other one leaves here.
    const leavesPending = outcome.status !== 'skipped' && holding.get(t.qpos)?.local !== true
    const detail = outcome.status === 'won' ? outcome.orderId : outcome.status === 'failed' ? outcome.reason : ''
    decisions.push({ qpos: t.qpos, status: outcome.status, detail, leavesPending })
  }
  const finished = await finishTickets(deps.redis, own, input.leaseToken, deps.keys.outcomeChannel, `e${eventId}.${shard}`, input.rate, decisions)
  if (finished.leaseLost) return LEASE_LOST
  await signalReturns(deps, [...holders].map((s) => ({ eventId, shard: s })))

  return {
    leaseLost: false,
    outcomes,
    stock: finished.stock,
    pending: finished.pending,
    siblingsFree: reservation.siblingsFree,
    reserveMs: reservation.reserveMs,
    writeMs: writtenStage.writeMs,
    finishMs: performance.now() - t2
  }
}

/** The reservation of a batch whose drain lost the shard's lease: nothing was reserved. */
const LEASE_LOST_RESERVATION: Reservation = Object.freeze({ leaseLost: true, tickets: [], holding: [], skipped: [], siblingsFree: [], reserveMs: 0 })

/** The result of a batch whose drain lost the shard's lease: nothing was decided. */
export const LEASE_LOST: DrainBatchResult = Object.freeze({ leaseLost: true, outcomes: [], stock: 0, pending: 0, siblingsFree: [], reserveMs: 0, writeMs: 0, finishMs: 0 })

function ticketIdOf (eventId: number, shard: number): (qpos: number) => string {
  const prefix = ticketIdPrefix(eventId, shard)
  return (qpos) => prefix + String(qpos)
}
