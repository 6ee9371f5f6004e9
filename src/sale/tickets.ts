/**
 * Tickets: what a buyer holds after asking to buy, as stored in a shard and as the API shows it.
 * Their ids and shards are in src/shared/ticket-ids.ts (the stock module reads them too).
 */

import { TICKET_STATUSES } from '../shapes/api'
import type { TicketStatus, TicketView } from '../shapes/api'
export { TICKET_STATUSES } from '../shapes/api'
export type { TicketStatus, TicketView } from '../shapes/api'

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
export type FailReason = 'already_ordered' | 'stock_mismatch' | 'lost_in_redis' | 'event_gone' | 'banned'

export function ticketView (id: string, stored: StoredTicket, qpos: number, drained: number, rate: number | undefined): TicketView {
  switch (stored.status) {
    case 'queued': {
      const position = Math.max(1, qpos - drained)
      // No measured pace (the shard's, else the last sale's): no ETA rather than a guess.
      if (rate === undefined || !(rate > 0)) return { ticket_id: id, status: 'queued', position }
      return { ticket_id: id, status: 'queued', position, eta_ms: Math.ceil((position / rate) * 1000) }
    }
    case 'won':
      return { ticket_id: id, status: 'won', order_id: stored.detail }
    case 'failed':
      return { ticket_id: id, status: 'failed', reason: stored.detail }
    case 'sold_out':
      return { ticket_id: id, status: 'sold_out' }
  }
}
