/**
 * Products and sale events as the admin creates them and buyers see them.
 */
import type { EventChanges, EventSortField, EventsRepository, NewEvent, EventStatus } from './events'
import type { SaleEvent } from '../shared/sale-event'
import { DEFAULT_ALLOCATION_MODE, DEFAULT_ENTRY_MODE } from '../shared/allocation'
import { entryLeadMs, validateNewEvent, windowStatus, withDrawDefaults } from './events'
import type { NewProduct, Product, ProductFilter, ProductSortField, ProductsRepository } from './products'
import { DomainError, badRequest, notFound } from '../shared/errors'
import type { SaleStateDeps } from '../stock'
import { clearEvent, isDeclaredSoldOut, remainingUnits, shardStocks, warmEvent } from '../stock'
import type { Page, PageRequest } from '../shared/page'
import type { CatalogCache } from './catalog-cache'
import type { EventView, ProductView } from '../shapes/api'
import type { AuditInTransaction } from '../shared/admin-trail'

export interface CatalogDeps {
  readonly events: EventsRepository
  readonly products: ProductsRepository
  readonly sale: SaleStateDeps
  /** Public product answers; cleared here on every write, and in other processes by `changed`. */
  readonly cache: CatalogCache
  /** Tells every process that the catalog changed (`products`) or an event did (`event:<id>`). */
  readonly changed: (what: string) => Promise<void>
}

/** Edits and deletions stop this long before an event's start, so a sale never starts half-changed. */
const EDIT_CUTOFF_MS = 2000

export type { EventView, ProductView } from '../shapes/api'

export function productView (p: Product): ProductView {
  return { id: p.id, title: p.title, description: p.description, price_cents: p.priceCents }
}

export async function createProduct (deps: CatalogDeps, input: NewProduct, audit?: AuditInTransaction): Promise<ProductView> {
  const id = await deps.products.insert(input, undefined, audit)
  const product = await deps.products.findById(id)
  if (product === undefined) throw new Error(`product ${id} vanished after insert`)
  await productsChanged(deps)
  return productView(product)
}

async function productsChanged (deps: CatalogDeps): Promise<void> {
  deps.cache.clear()
  await deps.changed('products')
}

/** An event was created, changed or deleted: the cached lists here at once, other processes by message. */
export async function eventChanged (deps: CatalogDeps, id: number): Promise<void> {
  deps.cache.clear()
  await deps.changed(`event:${id}`)
}

export async function updateProduct (deps: CatalogDeps, id: number, changes: Partial<NewProduct>, audit?: AuditInTransaction): Promise<ProductView> {
  if (!await deps.products.update(id, changes, audit)) throw notFound('PRODUCT_NOT_FOUND', 'product')
  await productsChanged(deps)
  return productView(await deps.products.findById(id) as Product)
}

export async function deleteProduct (deps: CatalogDeps, id: number, audit?: AuditInTransaction): Promise<void> {
  const result = await deps.products.remove(id, audit)
  if (result === 'missing') throw notFound('PRODUCT_NOT_FOUND', 'product')
  if (result === 'in_use') throw new DomainError('PRODUCT_IN_USE', 'events sell this product; delete them first')
  await productsChanged(deps)
}

/** Cache keys of the public reads (the routes also use them to spare cached answers the read limit). */
export const catalogKeys = {
  product: (id: number): string => `product:${id}`,
  products: (filter: ProductFilter, p: PageRequest<ProductSortField>): string => `products:${JSON.stringify([filter.q, filter.minPrice, filter.maxPrice, p.page, p.pageSize, p.sort.field, p.sort.direction])}`,
  events: (status: string | undefined, p: PageRequest<EventSortField>): string => `events:${JSON.stringify([status, p.page, p.pageSize, p.sort.field, p.sort.direction])}`
}

export async function getProduct (deps: CatalogDeps, id: number): Promise<ProductView> {
  const product = await deps.cache.get(catalogKeys.product(id), async () => await deps.products.findById(id) ?? null)
  if (product === null) throw notFound('PRODUCT_NOT_FOUND', 'product')
  return productView(product)
}

export async function listProducts (deps: CatalogDeps, filter: ProductFilter, p: PageRequest<ProductSortField>): Promise<Page<ProductView>> {
  return await deps.cache.get(catalogKeys.products(filter, p), async () => {
    const { items, total } = await deps.products.list(filter, p)
    return { items: items.map(productView), page: p.page, page_size: p.pageSize, total }
  })
}

/**
 * Changes an event that has not started. Stock, shards and window changes reach Redis at once:
 * the event's shards are cleared and warmed again with the new stock (no buyer can have reached
 * them: buys are refused before the start, and edits stop EDIT_CUTOFF_MS before it).
 */
export async function updateEvent (deps: CatalogDeps, id: number, changes: EventChanges, now = new Date(), audit?: AuditInTransaction): Promise<EventView> {
  const before = await deps.events.findById(id)
  if (before === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
  const given = withDrawDefaults(Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined)) as EventChanges)
  const merged: NewEvent = { ...before, ...given }
  // A lead window kept from when the sale was random_at_start means nothing once it is not.
  if (merged.entry !== 'random_at_start' && given.leadMs === undefined) delete (merged as { leadMs?: number }).leadMs
  validateNewEvent(merged, now)
  if (changes.productId !== undefined && await deps.products.findById(changes.productId) === undefined) throw notFound('PRODUCT_NOT_FOUND', 'product')
  // A randomized start takes entries from its lead window on, and an edit clears the sale's Redis
  // state: it stops before the window opens, the old one and the new one.
  const cutoff = EDIT_CUTOFF_MS + Math.max(entryLeadMs(before), entryLeadMs(merged))
  const updated = await deps.events.updateUpcoming(id, given, cutoff, audit)
  if (updated === 'not_editable') throw new DomainError('EVENT_NOT_EDITABLE', cutoff > EDIT_CUTOFF_MS ? 'only an event whose lead window has not opened can be changed' : 'only an event that has not started can be changed')
  // Judged on MySQL's clock: a sale moved to a start already past would go live on the state
  // Redis held before the edit.
  if (updated === 'start_too_soon') throw badRequest(`start_at must be more than ${cutoff / 1000} s in the future`)
  const after = await deps.events.findById(id) as SaleEvent
  await clearEvent(deps.sale, before)
  await warmEvent(deps.sale, after, deps.events)
  await eventChanged(deps, id)
  return await eventView(deps, after, now.getTime())
}

export async function deleteEvent (deps: CatalogDeps, id: number, audit?: AuditInTransaction): Promise<void> {
  const before = await deps.events.findById(id)
  if (before === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
  if (!await deps.events.deleteUpcoming(id, EDIT_CUTOFF_MS + entryLeadMs(before), audit)) {
    throw new DomainError('EVENT_NOT_EDITABLE', before.entry === 'random_at_start' ? 'only an event whose lead window has not opened can be deleted' : 'only an event that has not started can be deleted')
  }
  await clearEvent(deps.sale, before)
  await eventChanged(deps, id)
}

/**
 * A page of events. The rows are cached briefly like products (the buyer page's front list is read
 * by the whole crowd); status and units left are computed live for each answer.
 */
export async function listEvents (deps: CatalogDeps, status: 'upcoming' | 'active' | 'ended' | undefined, p: PageRequest<EventSortField>, now = new Date()): Promise<Page<EventView>> {
  const { items, total } = await deps.cache.get(catalogKeys.events(status, p), async () => await deps.events.list(status, now, p))
  return { items: await Promise.all(items.map(async (e) => await eventView(deps, e, now.getTime()))), page: p.page, page_size: p.pageSize, total }
}

/** Puts the event's stock in Redis now (it is also done at creation and by every worker). */
export async function warmUpEvent (deps: CatalogDeps, id: number): Promise<{ warmed_shards: number, shard_stock: number[] }> {
  const event = await deps.events.findById(id)
  if (event === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
  const warmed = await warmEvent(deps.sale, event, deps.events)
  return { warmed_shards: warmed, shard_stock: (await shardStocks(deps.sale, event)).map((s) => s ?? 0) }
}

/** Creates an event and puts its stock into Redis at once, so the sale is ready before it starts. */
export async function createEvent (deps: CatalogDeps, given: NewEvent, now = new Date(), audit?: AuditInTransaction): Promise<EventView> {
  const input = withDrawDefaults(given)
  validateNewEvent(input, now)
  // A draw's entries close at start_at (its seal): one made with that already past would be
  // "active" and answer every buyer DRAW_CLOSED. Judged against the `now` the rest is checked on
  // (the insert reads no clock); a PATCH cannot move it there (updateUpcoming refuses a start
  // less than the edit cutoff ahead on MySQL's clock).
  if (input.mode === 'draw' && input.startAt.getTime() <= now.getTime()) throw badRequest('start_at is when a draw closes its entries: it must be in the future')
  if (await deps.products.findById(input.productId) === undefined) throw notFound('PRODUCT_NOT_FOUND', 'product')
  const id = await deps.events.insert(input, undefined, audit)
  const event = await deps.events.findById(id)
  if (event === undefined) throw new Error(`event ${id} vanished after insert`)
  await warmEvent(deps.sale, event, deps.events)
  await eventChanged(deps, event.id)
  return await eventView(deps, event, now.getTime())
}

export async function getEvent (deps: CatalogDeps, id: number, now = Date.now()): Promise<EventView> {
  const event = await deps.events.findById(id)
  if (event === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
  return await eventView(deps, event, now)
}

/** An event as the public reads it, its row from the ingress's event cache (no MySQL query while
 *  the cache holds it); 404 for an id that has no event. */
/** Event rows as an ingress keeps them (the sale's event cache); `fresh` waits for a reload. */
export interface EventRows {
  get: (id: number, fresh: boolean) => Promise<{ readonly event: SaleEvent } | undefined>
}

export async function cachedEventView (deps: CatalogDeps, cache: EventRows, id: number, now = Date.now()): Promise<EventView> {
  const cached = await cache.get(id, true)
  if (cached === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
  return await eventView(deps, cached.event, now)
}

export async function eventView (deps: CatalogDeps, event: SaleEvent, now: number): Promise<EventView> {
  const window = windowStatus(event, now)
  // Read together (one round trip with auto-pipelining). A unit that came back shows in
  // `remaining` at once, but the sale reads sold out until every shard's gate has reopened and the
  // announcement is withdrawn: until then buyers are still answered sold_out.
  const [units, declared] = await Promise.all([remainingUnits(deps.sale, event), window === 'active' ? isDeclaredSoldOut(deps.sale, event.id) : false])
  const remaining = units ?? Math.max(0, event.stock - event.sold)
  const soldOut = window === 'active' && (remaining === 0 || declared)
  const status: EventStatus = soldOut ? 'sold_out' : window
  return {
    id: event.id,
    product_id: event.productId,
    title: event.title,
    description: event.description ?? null,
    price_cents: event.priceCents,
    stock: event.stock,
    sold: event.sold,
    remaining,
    shards: event.shards,
    start_at: event.startAt.toISOString(),
    end_at: event.endAt.toISOString(),
    require_token: event.requireToken,
    require_verified_email: event.requireVerifiedEmail === true,
    mode: event.mode ?? DEFAULT_ALLOCATION_MODE,
    entry: event.entry ?? DEFAULT_ENTRY_MODE,
    lead_ms: event.entry === 'random_at_start' ? entryLeadMs(event) : null,
    start_commitment: event.entry === 'random_at_start' ? event.startCommitment ?? null : null,
    paused: event.pausedAt != null,
    waitlist: event.waitlist === true,
    proof_of_work: event.powMaxNumber != null,
    pow_max_number: event.powMaxNumber ?? null,
    line_message: event.lineMessage ?? null,
    line_message_at: event.lineMessage != null && event.lineMessageAt != null ? event.lineMessageAt.toISOString() : null,
    status
  }
}
