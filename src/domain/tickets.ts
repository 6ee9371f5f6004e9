/**
 * Tickets: what a buyer holds after asking to buy. Their ids, their shard, their stored form.
 *
 * A queued ticket's id is `<event>-<shard>-<queue position>`. A buyer turned away at the gate gets
 * `<event>-<shard>-x<user>`: the same id however often they ask, including from an ingress that
 * answers from its local sold-out flag without asking Redis.
 */

import { TICKET_STATUSES } from '../shapes/api'
import type { TicketStatus, TicketView } from '../shapes/api'
export { TICKET_STATUSES } from '../shapes/api'
export type { TicketStatus, TicketView } from '../shapes/api'

export type TicketRef =
  | { readonly kind: 'queued', readonly eventId: number, readonly shard: number, readonly qpos: number }
  | { readonly kind: 'rejected', readonly eventId: number, readonly shard: number, readonly userId: string }

export const USER_ID_PATTERN = '^[1-9][0-9]{0,17}$'
export const TICKET_ID_PATTERN = '^[1-9][0-9]{0,15}-[0-9]{1,3}-(?:[1-9][0-9]{0,15}|x[1-9][0-9]{0,17})$'
const TICKET_ID = new RegExp(TICKET_ID_PATTERN)

export function ticketIdPrefix (eventId: number, shard: number): string {
  return `${eventTicketPrefix(eventId)}${shard}-`
}

/** What every ticket id of an event starts with. */
export function eventTicketPrefix (eventId: number): string {
  return `${eventId}-`
}

export function queuedTicketId (eventId: number, shard: number, qpos: number): string {
  return `${eventId}-${shard}-${qpos}`
}

export function rejectedTicketId (eventId: number, shard: number, userId: string): string {
  return `${eventId}-${shard}-x${userId}`
}

export function parseTicketId (id: string): TicketRef | undefined {
  if (!TICKET_ID.test(id)) return undefined
  const [e, s, last] = id.split('-') as [string, string, string]
  const eventId = Number(e)
  const shard = Number(s)
  if (!Number.isSafeInteger(eventId)) return undefined
  if (last.startsWith('x')) return { kind: 'rejected', eventId, shard, userId: last.slice(1) }
  const qpos = Number(last)
  if (!Number.isSafeInteger(qpos)) return undefined
  return { kind: 'queued', eventId, shard, qpos }
}

/** The shard a buyer belongs to: stable for the life of the event (FNV-1a of the user id). */
export function shardOf (userId: string, shards: number): number {
  if (shards <= 1) return 0
  let h = 0x811c9dc5
  for (let i = 0; i < userId.length; i++) {
    h ^= userId.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0) % shards
}

/** A ticket as stored in the shard's `tickets` hash: `user|status|detail`. */
export interface StoredTicket {
  readonly userId: string
  readonly status: TicketStatus
  /** Order id when won, reason when failed, empty otherwise. */
  readonly detail: string
}

export function parseStoredTicket (value: string): StoredTicket | undefined {
  const first = value.indexOf('|')
  const second = value.indexOf('|', first + 1)
  if (first < 0 || second < 0) return undefined
  const status = value.slice(first + 1, second) as TicketStatus
  if (!TICKET_STATUSES.includes(status)) return undefined
  return { userId: value.slice(0, first), status, detail: value.slice(second + 1) }
}

/** Reasons a ticket can end `failed`. */
export type FailReason = 'already_ordered' | 'stock_mismatch' | 'lost_in_redis' | 'event_gone'

/** Default drain rate used for ETAs before a shard has measured its own (tickets per second). */
const DEFAULT_RATE = 5000

export function ticketView (id: string, stored: StoredTicket, qpos: number, drained: number, rate: number | undefined): TicketView {
  switch (stored.status) {
    case 'queued': {
      const position = Math.max(1, qpos - drained)
      const perSecond = rate !== undefined && rate > 0 ? rate : DEFAULT_RATE
      return { ticket_id: id, status: 'queued', position, eta_ms: Math.ceil((position / perSecond) * 1000) }
    }
    case 'won':
      return { ticket_id: id, status: 'won', order_id: stored.detail }
    case 'failed':
      return { ticket_id: id, status: 'failed', reason: stored.detail }
    case 'sold_out':
      return { ticket_id: id, status: 'sold_out' }
  }
}
