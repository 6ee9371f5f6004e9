/**
 * Randomized start (`entry: "random_at_start"`): buyers who ask in a lead window before the start
 * (`lead_ms`, 10 minutes by default) are in, and are placed in random order at the start; buyers
 * who ask after the start queue behind all of them, in arrival order, as in first come, first
 * served. Whoever is quicker by milliseconds at the start gains nothing over whoever came in the
 * lead window.
 *
 * Admission is one round trip (lua/admitRandomStart): during the lead window a buy passes the same
 * rate limit, ban and token checks as any buy and is recorded as an entrant with a random entry id
 * (the ticket says `awaiting_draw`); the first buy after the start seals the entry list, keeping
 * queue positions for every entrant, and queues behind them. At the start (MySQL's clock) the
 * shard's owner seals the list if nobody did, and places the entrants in the order drawn from the
 * seed the sale committed to when it was made (start-placement.ts, lua/placeEntrants). The seed is
 * revealed once every shard is placed (GET /api/v1/events/:id/start-draw).
 *
 * Never: hands an entrant a queue position before the draw, lets a buy after the seal enter, or
 * lets anyone but the shard's owner (fenced by its lease) place.
 */
import { admitRandomStart } from '../../redis/commands'
import type { SaleEvent } from '../../shared/sale-event'
import { DEFAULT_LEAD_MS, MAX_ENTRANTS_PER_SHARD } from '../../shared/allocation'
import type { TicketView } from '../tickets'
import { entrantTicketId } from '../../shared/ticket-ids'
import { admitInLine } from './first-come'
import { newEntryId } from './draw'
import type { AllocationPolicy } from './policy'

export const randomStart: AllocationPolicy = {
  mode: 'first_come',
  entry: 'random_at_start',
  waitlist: false,
  drainOrder: 'queue_position',
  opensAt: entryOpensAt,
  async admit (deps, event, buyer, buyToken) {
    // Not open, lead window or open is judged in the script on Redis's TIME, one clock for every
    // ingress: an ingress whose clock runs fast neither opens nor ends the lead window for anyone.
    return await admitInLine(deps, event, buyer, buyToken, async (target, userId, token) => await admitRandomStart(deps.redis, target, userId, token, entryWindow(event), newEntryId(), MAX_ENTRANTS_PER_SHARD))
  }
}

/** When a sale that takes entries before its start opens them: `lead_ms` before the start. */
export function entryOpensAt (event: SaleEvent): number {
  return event.startAt.getTime() - (event.leadMs ?? DEFAULT_LEAD_MS)
}

/** The lead window as lua/admitRandomStart judges it on Redis's TIME: its opening and the start. */
export function entryWindow (event: SaleEvent): { startAtMs: number, opensAtMs: number } {
  return { startAtMs: event.startAt.getTime(), opensAtMs: entryOpensAt(event) }
}

/** The answer for a buyer who entered and is not placed yet. */
export function entrantTicket (event: Pick<SaleEvent, 'id'>, shard: number, userId: string, entryId: string): TicketView {
  return { ticket_id: entrantTicketId(event.id, shard, userId), status: 'queued', awaiting_draw: true, entry_id: entryId }
}
