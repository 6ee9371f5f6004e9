/**
 * The ingress's memory of tickets already final. A final outcome never changes (the drain writes
 * a ticket's outcome once; paying or cancelling its order changes the order, not the ticket), so a
 * buyer polling a decided ticket is answered from here without a Redis round trip. Bounded: the
 * least recently read entries go first.
 */
import { LRUCache } from 'lru-cache'
import type { TicketView } from './tickets'
import { eventTicketPrefix } from '../shared/ticket-ids'

interface Entry {
  readonly ownerId: string
  readonly view: TicketView
}

export class FinalTickets {
  /** Undefined when the capacity is 0 (remember nothing). */
  private readonly entries: LRUCache<string, Entry> | undefined

  constructor (capacity: number) {
    this.entries = capacity > 0 ? new LRUCache({ max: capacity }) : undefined
  }

  get size (): number {
    return this.entries?.size ?? 0
  }

  /** The final view of a ticket, for its owner (or an admin); undefined when not known here. */
  get (ticketId: string, readerId: string, isAdmin: boolean): TicketView | undefined {
    const entry = this.entries?.get(ticketId)
    if (entry === undefined || (entry.ownerId !== readerId && !isAdmin)) return undefined
    return entry.view
  }

  /** Forgets the tickets of a retired event (ticket ids start with `<event>-`). */
  forgetEvent (eventId: number): void {
    const mine = eventTicketPrefix(eventId)
    const entries = this.entries
    if (entries === undefined) return
    for (const id of [...entries.keys()]) if (id.startsWith(mine)) entries.delete(id)
  }

  /** Remembers a ticket's view if it is final; queued tickets are never kept. */
  remember (ticketId: string, ownerId: string, view: TicketView): void {
    if (view.status === 'queued') return
    this.entries?.set(ticketId, { ownerId, view })
  }
}
