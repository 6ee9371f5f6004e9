/**
 * Reading a ticket, and waiting for it to change (long-poll). Only the ticket's owner, or an
 * admin, sees it; anyone else is told it does not exist.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { DrainPace } from './drain-pace'
import type { KeySpace } from '../redis/keys'
import type { RedisClient } from '../redis/scripts'
import { readTicket as readStoredTicket } from '../redis/commands'
import { DomainError, badRequest, notFound } from '../shared/errors'
import type { EventCache } from './event-cache'
import type { OutcomeBus, WaitRefusal } from './outcome-bus'
import { parseStoredTicket, ticketView } from './tickets'
import { parseTicketId, queuedTicketId, rejectedTicketId, shardOf } from '../shared/ticket-ids'
import type { OrdersRepository } from '../orders'
import type { TicketView } from './tickets'
import type { FinalTickets } from './final-tickets'
import type { Reader } from '../shared/reader'
import { entrantTicket, onWaitlist, standing } from './allocation'
import type { SaleEvent } from '../shared/sale-event'

export interface TicketReaderDeps {
  readonly redis: RedisClient
  readonly keys: KeySpace
  readonly events: EventCache
  readonly bus: OutcomeBus
  /** MySQL's orders, for tickets whose Redis state was lost. */
  readonly orders: Pick<OrdersRepository, 'findByTicketId' | 'findByEventAndUser'>
  /** Tickets known final in this process, answered without Redis. */
  readonly finals?: FinalTickets
  /** The drain's pace across sales, for a queued ticket whose shard has not measured its own. */
  readonly pace?: Pick<DrainPace, 'get'>
  /** Told when a long-poll may not wait (the buyer's cap, or the process's). */
  readonly onWaitRefused?: (reason: WaitRefusal) => void
}

export async function readTicket (deps: TicketReaderDeps, ticketId: string, reader: Reader): Promise<TicketView> {
  const ref = parseTicketId(ticketId)
  if (ref === undefined) throw badRequest('malformed ticket id')
  const known = deps.finals?.get(ticketId, reader.userId, reader.isAdmin)
  if (known !== undefined) return known
  const cached = await deps.events.get(ref.eventId)
  if (cached === undefined || ref.shard >= cached.event.shards) throw notFound('TICKET_NOT_FOUND', 'ticket')

  if (ref.kind === 'rejected') {
    if (ref.userId !== reader.userId && !reader.isAdmin) throw notFound('TICKET_NOT_FOUND', 'ticket')
    if (cached.event.entry === 'random_at_start') return await entrantAnswer(deps, cached.event, ref.shard, ref.userId, ticketId, reader)
    const answer: TicketView = { ticket_id: ticketId, status: 'sold_out' }
    return cached.event.waitlist === true ? await waitlistAnswer(deps, cached.event, ref.userId, 0, answer, reader) : answer
  }

  const { value, drained, rate, lostBelow, warm } = await readStoredTicket(deps.redis, deps.keys.shard(ref), ref.qpos)
  const stored = value === '' ? undefined : parseStoredTicket(value)
  if (stored === undefined && ref.qpos <= lostBelow) return await lostTicket(deps, ticketId, reader)
  if (stored === undefined && !warm) {
    // Redis lost the shard and its rebuild has not run yet: MySQL knows the winners; for the
    // others the answer waits for the rebuild (it then reads `failed`, lost_in_redis).
    const order = await deps.orders.findByTicketId(ticketId)
    if (order === undefined) throw new DomainError('SALE_NOT_READY', 'the sale is being rebuilt, retry shortly')
    if (String(order.userId) !== reader.userId && !reader.isAdmin) throw notFound('TICKET_NOT_FOUND', 'ticket')
    return { ticket_id: ticketId, status: 'won', order_id: String(order.id) }
  }
  if (stored === undefined) throw notFound('TICKET_NOT_FOUND', 'ticket')
  if (stored.userId !== reader.userId && !reader.isAdmin) throw notFound('TICKET_NOT_FOUND', 'ticket')
  const pace = rate === undefined && stored.status === 'queued' ? await deps.pace?.get() : rate
  const view = ticketView(ticketId, stored, ref.qpos, drained, pace)
  // A waitlisted buyer's sold_out is not final while a unit may come back.
  if (view.status === 'sold_out' && cached.event.waitlist === true) return await waitlistAnswer(deps, cached.event, stored.userId, ref.qpos, view, reader)
  deps.finals?.remember(ticketId, stored.userId, view)
  return view
}

/**
 * A sold_out answer in a sale with a waitlist: with the buyer's place while they are on it; the
 * ticket they hold now once the waitlist served them (its id is the new ticket's).
 */
async function waitlistAnswer (deps: TicketReaderDeps, event: SaleEvent, userId: string, qpos: number, view: TicketView, reader: Reader): Promise<TicketView> {
  const now = await standing(deps, event, userId)
  if (now.held > 0 && now.held !== qpos) return await readTicket(deps, queuedTicketId(event.id, shardOf(userId, event.shards), now.held), reader)
  return onWaitlist(view, now.place, event, Date.now())
}

/**
 * The `x<user>` ticket of a randomized start: the placed ticket once the buyer holds a position
 * (the placement or a buy after the start gave one), the entry while the place is not drawn,
 * sold_out for a buyer the gate turned away; else the entry was lost with Redis (the buyer may ask
 * again). Holders are read before entrants: an entrant is never removed, so a buyer placed between
 * the two reads is answered as still waiting, and the next poll finds the place.
 */
async function entrantAnswer (deps: TicketReaderDeps, event: SaleEvent, shard: number, userId: string, ticketId: string, reader: Reader): Promise<TicketView> {
  const k = deps.keys.shard({ eventId: event.id, shard })
  const held = await deps.redis.hget(k.holders, userId)
  if (held !== null) return await readTicket(deps, queuedTicketId(event.id, shard, Number(held)), reader)
  const [entry, turnedAway] = await Promise.all([deps.redis.hget(k.entrants, userId), deps.redis.sismember(k.rejected, userId)])
  if (entry !== null) return entrantTicket(event, shard, userId, entry)
  if (turnedAway === 1) return { ticket_id: ticketId, status: 'sold_out' }
  return { ticket_id: ticketId, status: 'failed', reason: 'lost_in_redis' }
}

/**
 * The reader's own ticket for a sale, so a page reloaded mid-wait, or opened in another tab, picks
 * up where the buyer is: in line, won, sold out, failed. Redis first, on the shard the buyer's
 * buys go to (its holders hash, or its set of buyers turned away at the gate: one round trip for
 * both), then MySQL's order for a won ticket whose Redis state is gone (lost, or expired after
 * the sale). 404 TICKET_NOT_FOUND when the buyer has not bought.
 */
export async function buyersTicket (deps: TicketReaderDeps, eventId: number, reader: Reader): Promise<TicketView> {
  const cached = await deps.events.get(eventId)
  if (cached === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
  const shard = shardOf(reader.userId, cached.event.shards)
  const k = deps.keys.shard({ eventId, shard })
  const [held, turnedAway] = await Promise.all([deps.redis.hget(k.holders, reader.userId), deps.redis.sismember(k.rejected, reader.userId)])
  if (held !== null) return await readTicket(deps, queuedTicketId(eventId, shard, Number(held)), { userId: reader.userId, isAdmin: false })
  if (cached.event.entry === 'random_at_start') {
    const entry = await deps.redis.hget(k.entrants, reader.userId)
    if (entry !== null) return await readTicket(deps, rejectedTicketId(eventId, shard, reader.userId), { userId: reader.userId, isAdmin: false })
  }
  if (turnedAway === 1) {
    const ticketId = rejectedTicketId(eventId, shard, reader.userId)
    return cached.event.waitlist === true ? await readTicket(deps, ticketId, reader) : { ticket_id: ticketId, status: 'sold_out' }
  }
  const order = await deps.orders.findByEventAndUser(eventId, reader.userId)
  if (order === undefined) throw notFound('TICKET_NOT_FOUND', 'ticket')
  return { ticket_id: order.ticketId, status: 'won', order_id: String(order.id) }
}

/**
 * A ticket handed out before Redis lost its shard (no persistence, a restart). MySQL still knows
 * the ones that won; the rest end `failed` with reason `lost_in_redis` instead of hanging. Their
 * owner is gone with the state, so any signed-in reader learns only that the id was lost.
 */
async function lostTicket (deps: TicketReaderDeps, ticketId: string, reader: Reader): Promise<TicketView> {
  const order = await deps.orders.findByTicketId(ticketId)
  if (order === undefined) return { ticket_id: ticketId, status: 'failed', reason: 'lost_in_redis' }
  if (String(order.userId) !== reader.userId && !reader.isAdmin) throw notFound('TICKET_NOT_FOUND', 'ticket')
  return { ticket_id: ticketId, status: 'won', order_id: String(order.id) }
}

/**
 * Returns the ticket as soon as it is no longer queued, or after `waitMs` at the latest. Nothing
 * spins: the wait ends on the drain's outcome message for this ticket or on the timer.
 */
export async function waitForTicket (deps: TicketReaderDeps, ticketId: string, reader: Reader, waitMs: number): Promise<TicketView> {
  if (waitMs <= 0) return await readTicket(deps, ticketId, reader)
  const waiter = deps.bus.wait(ticketId, waitMs, reader.userId)
  if (typeof waiter === 'string') {
    // No wait: a buyer over its share gets the ticket as it is; when the process is full, a ticket
    // still queued gets 503 and Retry-After (the client polls again in a second).
    deps.onWaitRefused?.(waiter)
    const now = await readTicket(deps, ticketId, reader)
    if (waiter === 'ingress_full' && now.status === 'queued') throw new DomainError('TOO_MANY_WAITING', 'too many requests are waiting here; retry in a second')
    return now
  }
  try {
    const first = await readTicket(deps, ticketId, reader)
    if (first.status !== 'queued') return first
    // A randomized start's entry that was placed: wait on the placed ticket's outcome.
    if (first.ticket_id !== ticketId) {
      waiter.cancel()
      return await waitForTicket(deps, first.ticket_id, reader, waitMs)
    }
    if (first.awaiting_draw === true) return await untilPlaced(deps, ticketId, reader, first, Date.now() + waitMs)
    const outcome = await waiter.changed
    if (outcome === undefined || outcome.status === 'queued') return await readTicket(deps, ticketId, reader)
    // Turned away in a waitlist sale: the answer carries the buyer's place, read now.
    if (outcome.status === 'sold_out' && (await deps.events.get(parseTicketId(ticketId)?.eventId ?? 0))?.event.waitlist === true) return await readTicket(deps, ticketId, reader)
    // The drain announced the outcome: answer from the message, no second read.
    const view = ticketView(ticketId, { userId: reader.userId, ...outcome }, 0, 0, undefined)
    if (!reader.isAdmin) deps.finals?.remember(ticketId, reader.userId, view)
    return view
  } finally {
    waiter.cancel()
  }
}

/** How often a long-poll of an entry not yet placed looks again, from the start on. */
const PLACE_LOOK_MS = 250

/**
 * A long-poll of a randomized start's entry: nothing is published for it, so it looks again from
 * the start on (this process's clock only paces the looks; the placement decides), a look every
 * PLACE_LOOK_MS with a random offset so a crowd of entrants does not look in step, until the place
 * is drawn or the wait ends.
 */
async function untilPlaced (deps: TicketReaderDeps, ticketId: string, reader: Reader, view: TicketView, deadline: number): Promise<TicketView> {
  const event = (await deps.events.get(parseTicketId(ticketId)?.eventId ?? 0))?.event
  let at = Math.max(Date.now(), event?.startAt.getTime() ?? 0) + PLACE_LOOK_MS * Math.random()
  let last = view
  while (at < deadline) {
    await sleep(Math.max(0, at - Date.now()))
    last = await readTicket(deps, ticketId, reader)
    if (last.awaiting_draw !== true) return last
    at = Date.now() + PLACE_LOOK_MS
  }
  await sleep(Math.max(0, deadline - Date.now()))
  return last
}
