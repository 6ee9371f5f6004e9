/**
 * A draw (`mode: "draw"`): a randomized start with no newcomers after the close and the runners-up
 * served from the waitlist. Buyers enter in the window of `lead_ms` before `start_at` (the close);
 * at the close the shard's owner places the entrants in the order drawn from the committed seed
 * (start-placement.ts, HMAC-SHA256(seed, entry id), lowest first: draw.ts); the drain decides them
 * in that order, so the first `stock` win an order with the usual payment deadline and the rest
 * are sold_out and join the waitlist at `position - 0.5` (lua/includes/waitlist.lua), which is
 * drawn order too: a unit that comes back (cancel, expiry) goes to the first runner-up
 * (lua/serveWaitlist, by the owner between batches). GET /api/v1/events/:id/draw publishes it.
 *
 * Stored as a randomized start with a waitlist (`entry_mode` random_at_start, `waitlist` true,
 * `allocation_mode` draw; the catalog sets and checks them), so the seed, the seal, the placement,
 * the entrant's ticket and the waitlist's service are the ones already tested for those. What the
 * draw adds is here and in lua/admitRandomStart's `drawOnly`: once the entry list is sealed (the
 * first buy at or after the close on Redis's TIME, or the owner at the close on MySQL's clock),
 * a buyer with no entry is refused (409 DRAW_CLOSED) in the same script, so no buy enters after
 * the seal and no entrant is turned away; the buyer's entry, then ticket, answers as before (I7).
 *
 * One shard (the catalog refuses more): the draw ranks every entry of the sale together, and a
 * sibling shard could lend a returned unit past the waitlist's first runner-up.
 */
import { admitRandomStart } from '../../redis/commands'
import { MAX_ENTRANTS_PER_SHARD } from '../../shared/allocation'
import { admitInLine } from './first-come'
import { newEntryId } from './draw'
import { entryOpensAt, entryWindow } from './random-start'
import { onWaitlist, standing } from './waitlist'
import type { AllocationPolicy } from './policy'

export const drawSale: AllocationPolicy = {
  mode: 'draw',
  entry: 'random_at_start',
  waitlist: true,
  drainOrder: 'queue_position',
  opensAt: entryOpensAt,
  async admit (deps, event, buyer, buyToken) {
    return await admitInLine(deps, event, buyer, buyToken,
      async (target, userId, token) => await admitRandomStart(deps.redis, target, userId, token, entryWindow(event), newEntryId(), MAX_ENTRANTS_PER_SHARD, true), {
        // Nobody is turned away at a draw's gate (no buy passes the seal); a drawn loser asking
        // again hears sold_out with their runner-up place, while a unit may still come back.
        soldOut: async (ticket) => onWaitlist(ticket, (await standing(deps, event, buyer.id)).place, event, Date.now()),
        existing: async (ticket) => ticket.status === 'sold_out' ? onWaitlist(ticket, (await standing(deps, event, buyer.id)).place, event, Date.now()) : ticket
      })
  }
}
