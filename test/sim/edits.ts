/**
 * The simulation's first phase for some seeds: the sale is created and edited before its start
 * while workers warm it up from rows they read earlier. Each step comes from the seeded source:
 *   - the admin creates the event (a worker may read the row mid-creation, before it is marked
 *     warm) or edits its stock and shards;
 *   - a worker reads the row (it may act on it much later);
 *   - a worker warms the sale from a row it read earlier, maybe stale;
 *   - a worker starts and runs the reconciler;
 * and an edit and a warm-up interleave at a random read of either (racing.ts). Then the sale
 * starts (its start moved to now) and every ingress reads the row again. The caller judges the
 * sale afterwards as any other: Redis must hold exactly the stock the last edit set.
 */
import type { CatalogDeps } from '../../src/catalog/catalog'
import { createEvent, updateEvent } from '../../src/catalog/catalog'
import type { SaleEvent } from '../../src/shared/sale-event'
import { warmEvent } from '../../src/stock/sale-state'
import { reconcileEvent } from '../../src/stock/reconciler'
import type { TestEnv } from '../helpers/env'
import { racing } from './racing'
import { asAnotherProcess } from '../helpers/intercept'

export interface EditContext {
  readonly env: TestEnv
  readonly catalog: CatalogDeps
  readonly random: () => number
  readonly count: (what: string, detail?: string) => void
}

const START_IN_MS = 60_000

/** Creates an upcoming event, edits it while workers warm it, then starts it; returns its id. */
export async function editBeforeStart (ctx: EditContext, productId: number, stock: number, shards: number): Promise<number> {
  const { env, catalog, random, count } = ctx
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T
  const rows: SaleEvent[] = []
  let eventId = 0
  // The workers are other processes than the admin's (each keeps its own rebuild in flight).
  const worker = { ...env, redis: asAnotherProcess(env.redis) }
  const read = async (): Promise<void> => {
    const row = eventId === 0 ? undefined : await catalog.events.findById(eventId)
    if (row !== undefined) rows.push(row)
  }
  const staleWarm = async (): Promise<void> => {
    if (rows.length === 0) return
    const row = pick(rows)
    const warmed = await warmEvent(worker, row, catalog.events)
    count('stale warm-up', `row stock ${row.stock} shards ${row.shards} warmed_at ${row.warmedAt === null ? 'null' : 'set'}: ${warmed} shards`)
  }
  const changes = (): { stock: number, shards: number } => ({ stock: 2 + Math.floor(random() * 4), shards: random() < 0.5 ? 1 : 2 })

  // Creation, with a worker reading the row at a random point of it (before it is marked warm, maybe).
  const start = new Date(Date.now() + START_IN_MS)
  const creating = racing(catalog.events, Math.floor(random() * 6), read)
  const view = await createEvent({ ...catalog, events: creating.events }, {
    productId, title: 'Sim drop', priceCents: 90, stock, shards, startAt: start, endAt: new Date(start.getTime() + 3_600_000), requireToken: false
  })
  eventId = view.id
  await creating.settle()
  count('create upcoming', `stock ${stock} shards ${shards}`)

  for (let i = 0, n = 1 + Math.floor(random() * 6); i < n; i++) {
    const roll = random()
    if (roll < 0.25) {
      await read()
      count('worker reads the row')
    } else if (roll < 0.45) {
      await staleWarm()
    } else if (roll < 0.65) {
      // The edit, with a stale warm-up between two of its reads.
      const c = changes()
      const race = racing(catalog.events, Math.floor(random() * 8), staleWarm)
      await updateEvent({ ...catalog, events: race.events }, eventId, c)
      await race.settle()
      count('edit', `stock ${c.stock} shards ${c.shards} (warm-up inside)`)
    } else if (roll < 0.85 && rows.length > 0) {
      // A warm-up from an earlier row, with the whole edit between two of its reads.
      const c = changes()
      const row = pick(rows)
      const race = racing(catalog.events, Math.floor(random() * 6), async () => { await updateEvent(catalog, eventId, c) })
      await warmEvent(worker, row, race.events)
      await race.settle()
      count('edit', `stock ${c.stock} shards ${c.shards} (inside a warm-up from row stock ${row.stock})`)
    } else {
      const row = rows.length > 0 ? pick(rows) : await catalog.events.findById(eventId)
      if (row !== undefined) count('reconcile before start', JSON.stringify(await reconcileEvent({ ...worker, events: catalog.events }, row)))
    }
  }

  // The sale starts: the start is moved to now (the edit cutoff has passed), workers warm it from
  // the rows they hold, as their discovery round would.
  await env.db('seckill_events').where({ id: eventId }).update({ start_at: new Date(Date.now() - 1000) })
  await staleWarm()
  await read()
  await staleWarm()
  return eventId
}
