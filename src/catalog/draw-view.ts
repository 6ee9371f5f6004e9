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

export interface DrawAnswerOptions {
  /** Events whose answer is kept at most (least recently asked evicted first). */
  readonly maxEvents?: number
  /** Characters kept at most across them (the newest answer is kept whatever its size). */
  readonly maxChars?: number
  /** Builds one answer (drawView; a test counts the calls). */
  readonly build?: typeof drawView
}

/** Answers of this ingress's GET /draw, serialized (`data` only) and kept once final. */
export interface DrawAnswers {
  json: (id: number) => Promise<string>
  /** Events whose answer is held now. */
  readonly held: () => number
}

/**
 * GET /draw's answers, serialized once per event and kept in this process once the seed is shown:
 * from then on the answer never changes (the placement and the exclusions are recorded once), and
 * a large draw's is costly (400,000 entries: 14 MB, about 2 s to read, rank and serialize). A few
 * events are kept, the least recently asked evicted first, and at most `maxChars` characters
 * beyond the newest; a crowd asking at once shares one build. Before the seed is shown the answer
 * is built per request (it is small then: the commitment only).
 */
export function drawAnswers (events: EventsRepository, opts: DrawAnswerOptions = {}): DrawAnswers {
  const maxEvents = opts.maxEvents ?? 4
  const maxChars = opts.maxChars ?? 128 * 1024 * 1024
  const build = opts.build ?? drawView
  // Insertion order is recency: a hit is moved to the end.
  const kept = new Map<number, string>()
  const building = new Map<number, Promise<string>>()
  const keep = (id: number, json: string): void => {
    kept.set(id, json)
    let chars = 0
    for (const v of kept.values()) chars += v.length
    for (const [old, v] of kept) {
      if (old === id || (kept.size <= maxEvents && chars <= maxChars)) break
      kept.delete(old)
      chars -= v.length
    }
  }
  return {
    async json (id) {
      const hit = kept.get(id)
      if (hit !== undefined) {
        kept.delete(id)
        kept.set(id, hit)
        return hit
      }
      const pending = building.get(id)
      if (pending !== undefined) return await pending
      const made = (async () => {
        const view = await build(events, id)
        const json = JSON.stringify(view)
        if (view.seed !== null) keep(id, json)
        return json
      })()
      building.set(id, made)
      try {
        return await made
      } finally {
        building.delete(id)
      }
    },
    held: () => kept.size
  }
}
