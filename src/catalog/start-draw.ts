/**
 * A randomized start's draw as anyone may check it (GET /api/v1/events/:id/start-draw): the
 * commitment published before the lead window opened, and once every shard has placed its
 * lead-window buyers, the seed and each shard's placed order of entry ids. The README's check
 * recomputes the order from the seed and the entries.
 *
 * Never shows the seed before the placement: a buyer who knew it could not change the draw (the
 * entry ids are random), but a seed shown early would let anyone compute the order before it is
 * fixed, and the commitment would prove nothing.
 */
import { DomainError, notFound } from '../shared/errors'
import type { StartDrawView } from '../shapes/api'
import type { EventsRepository } from './events'

export async function startDrawView (events: EventsRepository, id: number): Promise<StartDrawView> {
  const event = await events.findById(id)
  if (event === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
  if (event.entry !== 'random_at_start' || event.startCommitment == null) throw new DomainError('NO_START_DRAW', 'this sale does not place its buyers by a draw at the start')
  const seed = await events.revealedSeed(id, event.shards)
  if (seed === undefined) return { event_id: id, commitment: event.startCommitment, seed: null, shards: [] }
  const placements = await events.placements(id)
  return {
    event_id: id,
    commitment: event.startCommitment,
    seed,
    shards: placements.map((p) => ({ shard: p.shard, first_position: p.base + 1, order: [...p.order] }))
  }
}
