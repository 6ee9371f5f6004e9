/**
 * First come, first served with a waitlist for units that come back. Admission is one round trip
 * as for first come (lua/admitWaitlisted), but a buyer turned away -- at the gate, or in the drain
 * -- is told `sold_out` with `waitlisted: true` and a place, in arrival order; while anyone is on
 * the waitlist the gate lets no newcomer pass them. A unit that comes back (cancel, expiry) goes
 * to the waitlist's first buyer, served by the shard's owner between its batches
 * (lua/serveWaitlist, from src/stock/return-applier.ts): a new ticket with the unit reserved for
 * it, decided by the drain as usual. Only then do units reach newcomers.
 *
 * "Sold out" is final once nothing can come back: after the sale's end the answer carries no
 * place. The waitlist is per shard, so a waitlist sale has one shard (checked by the catalog).
 * The ingress's sold-out memory is not used for such a sale: every turned-away buyer must reach
 * the waitlist.
 */
import { admitWaitlisted, readWaitlist, leaveWaitlist as leaveScript } from '../../redis/commands'
import type { KeySpace } from '../../redis/keys'
import type { RedisClient } from '../../redis/scripts'
import type { SaleEvent } from '../../shared/sale-event'
import { shardOf } from '../../shared/ticket-ids'
import { DomainError } from '../../shared/errors'
import type { WaitlistStanding } from '../../redis/commands'
import type { TicketView } from '../tickets'
import { admitInLine } from './first-come'
import type { AllocationPolicy } from './policy'

export const firstComeWithWaitlist: AllocationPolicy = {
  mode: 'first_come',
  entry: 'on_start',
  waitlist: true,
  drainOrder: 'queue_position',
  async admit (deps, event, buyer, buyToken) {
    const w = deps.keys.waitlist({ eventId: event.id, shard: shardOf(buyer.id, event.shards) })
    return await admitInLine(deps, event, buyer, buyToken, async (target, userId, token) => await admitWaitlisted(deps.redis, target, w, userId, token), {
      soldOut: (ticket, reply) => onWaitlist(ticket, reply.position, event, Date.now()),
      existing: async (ticket) => ticket.status === 'sold_out' ? onWaitlist(ticket, (await standing(deps, event, buyer.id)).place, event, Date.now()) : ticket
    })
  }
}

export interface WaitlistDeps {
  readonly redis: RedisClient
  readonly keys: KeySpace
}

/** The buyer's place on the sale's waitlist and the queue position they hold (lua/readWaitlist). */
export async function standing (deps: WaitlistDeps, event: Pick<SaleEvent, 'id' | 'shards'>, userId: string): Promise<WaitlistStanding> {
  const ref = { eventId: event.id, shard: shardOf(userId, event.shards) }
  return await readWaitlist(deps.redis, deps.keys.shard(ref), deps.keys.waitlist(ref), userId)
}

/** A sold_out answer with the buyer's place, while a unit may still come back. */
export function onWaitlist (ticket: TicketView, place: number, event: Pick<SaleEvent, 'endAt'>, now: number): TicketView {
  if (place <= 0 || now >= event.endAt.getTime()) return ticket
  return { ...ticket, waitlisted: true, waitlist_place: place }
}

/**
 * The buyer leaves the sale's waitlist for good (409 NO_WAITLIST when the sale keeps none, 404
 * NOT_ON_WAITLIST when they are not on it: never there, left before, or served already).
 */
export async function leaveWaitlist (deps: WaitlistDeps, event: Pick<SaleEvent, 'id' | 'shards' | 'waitlist'>, userId: string): Promise<void> {
  if (event.waitlist !== true) throw new DomainError('NO_WAITLIST', 'this sale keeps no waitlist')
  const ref = { eventId: event.id, shard: shardOf(userId, event.shards) }
  if (!await leaveScript(deps.redis, deps.keys.shard(ref), deps.keys.waitlist(ref), userId)) throw new DomainError('NOT_ON_WAITLIST', 'you are not on this sale\'s waitlist')
}
