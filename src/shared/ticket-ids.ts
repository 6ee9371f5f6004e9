/**
 * Ticket ids and the shard a buyer belongs to: the sale, the stock module and the drain read them.
 *
 * A queued ticket's id is `<event>-<shard>-<queue position>`. A buyer turned away at the gate gets
 * `<event>-<shard>-x<user>`: the same id however often they ask, including from an ingress that
 * answers from its local sold-out flag without asking Redis. A buyer who entered a randomized
 * start's lead window holds the same form until placed (no position yet); it then leads to the
 * placed ticket.
 */

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

/** A randomized start's entrant before the placement: the buyer's own id, like a gate's turn-away. */
export function entrantTicketId (eventId: number, shard: number, userId: string): string {
  return rejectedTicketId(eventId, shard, userId)
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
