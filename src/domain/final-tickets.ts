/**
 * The ingress's memory of tickets already final. A final outcome never changes (the drain writes
 * a ticket's outcome once; paying or cancelling its order changes the order, not the ticket), so a
 * buyer polling a decided ticket is answered from here without a Redis round trip. Bounded: the
 * least recently read entries go first.
 */
import type { TicketView } from './tickets'
import { eventTicketPrefix } from './tickets'

interface Entry {
  readonly ownerId: string
  readonly view: TicketView
}

export class FinalTickets {
  private readonly entries = new Map<string, Entry>()

  constructor (private readonly capacity: number) {}

  get size (): number {
    return this.entries.size
  }

  /** The final view of a ticket, for its owner (or an admin); undefined when not known here. */
  get (ticketId: string, readerId: string, isAdmin: boolean): TicketView | undefined {
    const entry = this.entries.get(ticketId)
    if (entry === undefined || (entry.ownerId !== readerId && !isAdmin)) return undefined
    // Most recently read last, so eviction takes the coldest.
    this.entries.delete(ticketId)
    this.entries.set(ticketId, entry)
    return entry.view
  }

  /** Forgets the tickets of a retired event (ticket ids start with `<event>-`). */
  forgetEvent (eventId: number): void {
    const mine = eventTicketPrefix(eventId)
    for (const id of [...this.entries.keys()]) if (id.startsWith(mine)) this.entries.delete(id)
  }

  /** Remembers a ticket's view if it is final; queued tickets are never kept. */
  remember (ticketId: string, ownerId: string, view: TicketView): void {
    if (view.status === 'queued' || this.capacity === 0) return
    this.entries.delete(ticketId)
    this.entries.set(ticketId, { ownerId, view })
    if (this.entries.size > this.capacity) {
      const coldest = this.entries.keys().next().value
      if (coldest !== undefined) this.entries.delete(coldest)
    }
  }
}
