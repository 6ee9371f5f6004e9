/**
 * Reading a ticket, and waiting for it to change (long-poll). Only the ticket's owner, or an
 * admin, sees it; anyone else is told it does not exist.
 */
import type { KeySpace } from '../redis/keys'
import type { RedisClient } from '../redis/scripts'
import { readTicket as readStoredTicket } from '../redis/commands'
import { DomainError, badRequest, notFound } from './errors'
import type { EventCache } from './event-cache'
import type { OutcomeBus, WaitRefusal } from './outcome-bus'
import { parseStoredTicket, parseTicketId, queuedTicketId, rejectedTicketId, shardOf, ticketView } from './tickets'
import type { OrdersRepository } from './orders'
import type { TicketView } from './tickets'
import type { FinalTickets } from './final-tickets'

export interface Reader {
  readonly userId: string
  readonly isAdmin: boolean
}

export interface TicketReaderDeps {
  readonly redis: RedisClient
  readonly keys: KeySpace
  readonly events: EventCache
  readonly bus: OutcomeBus
  /** MySQL's orders, for tickets whose Redis state was lost. */
  readonly orders: Pick<OrdersRepository, 'findByTicketId' | 'findByEventAndUser'>
  /** Tickets known final in this process, answered without Redis. */
  readonly finals?: FinalTickets
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
    return { ticket_id: ticketId, status: 'sold_out' }
  }

  const { value, drained, rate, lostBelow } = await readStoredTicket(deps.redis, deps.keys.shard(ref), ref.qpos)
  const stored = value === '' ? undefined : parseStoredTicket(value)
  if (stored === undefined && ref.qpos <= lostBelow) return await lostTicket(deps, ticketId, reader)
  if (stored === undefined) throw notFound('TICKET_NOT_FOUND', 'ticket')
  if (stored.userId !== reader.userId && !reader.isAdmin) throw notFound('TICKET_NOT_FOUND', 'ticket')
  const view = ticketView(ticketId, stored, ref.qpos, drained, rate)
  deps.finals?.remember(ticketId, stored.userId, view)
  return view
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
  if (turnedAway === 1) return { ticket_id: rejectedTicketId(eventId, shard, reader.userId), status: 'sold_out' }
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
    const outcome = await waiter.changed
    if (outcome === undefined || outcome.status === 'queued') return await readTicket(deps, ticketId, reader)
    // The drain announced the outcome: answer from the message, no second read.
    const view = ticketView(ticketId, { userId: reader.userId, ...outcome }, 0, 0, undefined)
    if (!reader.isAdmin) deps.finals?.remember(ticketId, reader.userId, view)
    return view
  } finally {
    waiter.cancel()
  }
}
