/**
 * Products and sale events as the admin creates them and buyers see them.
 */
import type { EventsRepository, NewEvent, SaleEvent, EventStatus } from './events'
import { validateNewEvent, windowStatus } from './events'
import type { NewProduct, Product, ProductsRepository } from './products'
import { notFound } from './errors'
import type { SaleStateDeps } from './sale-state'
import { remainingUnits, warmEvent } from './sale-state'

export interface CatalogDeps {
  readonly events: EventsRepository
  readonly products: ProductsRepository
  readonly sale: SaleStateDeps
}

export interface EventView {
  readonly id: number
  readonly product_id: number
  readonly title: string
  readonly price_cents: number
  readonly stock: number
  readonly sold: number
  readonly remaining: number
  readonly shards: number
  readonly start_at: string
  readonly end_at: string
  readonly status: EventStatus
}

export interface ProductView {
  readonly id: number
  readonly title: string
  readonly description: string | null
  readonly price_cents: number
}

export function productView (p: Product): ProductView {
  return { id: p.id, title: p.title, description: p.description, price_cents: p.priceCents }
}

export async function createProduct (deps: CatalogDeps, input: NewProduct): Promise<ProductView> {
  const id = await deps.products.insert(input)
  const product = await deps.products.findById(id)
  if (product === undefined) throw new Error(`product ${id} vanished after insert`)
  return productView(product)
}

/** Creates an event and puts its stock into Redis at once, so the sale is ready before it starts. */
export async function createEvent (deps: CatalogDeps, input: NewEvent, now = new Date()): Promise<EventView> {
  validateNewEvent(input, now)
  if (await deps.products.findById(input.productId) === undefined) throw notFound('PRODUCT_NOT_FOUND', 'product')
  const id = await deps.events.insert(input)
  const event = await deps.events.findById(id)
  if (event === undefined) throw new Error(`event ${id} vanished after insert`)
  await warmEvent(deps.sale, event)
  return await eventView(deps, event, now.getTime())
}

export async function getEvent (deps: CatalogDeps, id: number, now = Date.now()): Promise<EventView> {
  const event = await deps.events.findById(id)
  if (event === undefined) throw notFound('EVENT_NOT_FOUND', 'event')
  return await eventView(deps, event, now)
}

export async function eventView (deps: CatalogDeps, event: SaleEvent, now: number): Promise<EventView> {
  const remaining = await remainingUnits(deps.sale, event) ?? Math.max(0, event.stock - event.sold)
  const window = windowStatus(event, now)
  const status: EventStatus = window === 'active' && remaining === 0 ? 'sold_out' : window
  return {
    id: event.id,
    product_id: event.productId,
    title: event.title,
    price_cents: event.priceCents,
    stock: event.stock,
    sold: event.sold,
    remaining,
    shards: event.shards,
    start_at: event.startAt.toISOString(),
    end_at: event.endAt.toISOString(),
    status
  }
}
