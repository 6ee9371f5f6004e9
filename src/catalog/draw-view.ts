/**
 * A draw sale's result as anyone may check it (GET /api/v1/events/:id/draw; the README's
 * recomputation script reads this answer as it is): the commitment published when the sale was
 * made, and once the entries are drawn (the close has passed on MySQL's clock and the owner has
 * recorded its placement), the seed, every entry id and the winners.
 *
 * The placement (src/sale/allocation/start-placement.ts) ranked the entries by HMAC-SHA256(seed,
 * entry id) and recorded them in that order (`start_placements`), so the winners are the first
 * `units` of that record: nothing is ranked again here, and what is published is what the drain
 * decided in. `entries` is the same set sorted as text, so the check does the ranking itself.
 * An entrant banned before the draw keeps their rank but gets no order: their unit passes to the
 * next in drawn order. Their entry ids are published as `excluded` (recorded by the owner with
 * the placement), so the check skips them as the drain did; like `entries`, they name nobody.
 *
 * Never shows the seed, the entries or the winners before the placement is recorded.
 */
import { DomainError, notFound } from '../shared/errors'
import type { DrawView } from '../shapes/api'
import type { EventsRepository } from './events'

export async function drawView (events: EventsRepository, id: number): Promise<DrawView> {
  const event = await events.findById(id)
  if (event === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
  if (event.mode !== 'draw' || event.startCommitment == null) throw new DomainError('NO_DRAW', 'this sale is not a draw (mode draw); a randomized start\'s draw is at /start-draw')
  const hidden: DrawView = { event_id: id, commitment: event.startCommitment, seed: null, units: event.stock, entries: [], excluded: [], winners: [] }
  const seed = await events.revealedSeed(id, event.shards)
  if (seed === undefined) return hidden
  const [placed, excludedList] = await Promise.all([events.placements(id), events.exclusions(id)])
  // One shard, placed once (a rebuild after Redis loss seals an empty list: nobody is placed then).
  const order = placed.flatMap((p) => p.order)
  const excluded = new Set(excludedList)
  // The drain gave the units in drawn order, passing over the excluded (their tickets were born
  // failed): the winners are the first `units` of the order that were not excluded.
  return { ...hidden, seed, entries: [...order].sort(), excluded: [...excluded].sort(), winners: order.filter((e) => !excluded.has(e)).slice(0, event.stock) }
}
