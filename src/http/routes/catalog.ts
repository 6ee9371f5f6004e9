import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { CatalogDeps } from '../../domain/catalog'
import { getProduct, listEvents, listProducts } from '../../domain/catalog'
import type { EventSortField } from '../../domain/events'
import type { ProductSortField } from '../../domain/products'
import { badRequest } from '../../domain/errors'
import { commonErrors, ok, okSchema } from '../envelope'
import { pageQueryProperties, pageRequest, pageSchema } from '../pagination'
import type { PageQuery } from '../pagination'
import { eventSchema, idParams, productSchema } from '../schemas'

interface ProductQuery extends PageQuery { q?: string, min_price?: number, max_price?: number }
interface EventQuery extends PageQuery { status?: 'upcoming' | 'active' | 'ended' }

const PRODUCT_SORT: readonly ProductSortField[] = ['id', 'title', 'price_cents', 'created_at']
const EVENT_SORT: readonly EventSortField[] = ['id', 'start_at', 'end_at']

/**
 * The public catalog: products and events, no authentication. Searches and lists (which may
 * reach MySQL with a query nobody asked before) are limited per address, generously: 300 random
 * searches at once from one address had pushed other buyers' event reads from 32 ms to 1.2 s at
 * p99. The sale's own page reads (`GET /events/:id`, `GET /time`) are answered from the process's
 * cache and stay unlimited: a campus or carrier puts thousands of buyers behind one address.
 */
export async function catalogRoutes (app: FastifyInstance, opts: { catalog: CatalogDeps, readLimit: { max: number, timeWindow: number } }): Promise<void> {
  const { catalog } = opts
  const perAddress = { rateLimit: { ...opts.readLimit, keyGenerator: (r: FastifyRequest) => `read-ip:${r.ip}` } }

  app.get<{ Querystring: ProductQuery }>('/products', {
    config: perAddress,
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          ...pageQueryProperties,
          q: { type: 'string', maxLength: 100 },
          min_price: { type: 'integer', minimum: 0 },
          max_price: { type: 'integer', minimum: 0 }
        }
      },
      response: { 200: okSchema(pageSchema(productSchema)), ...commonErrors }
    }
  }, async (request) => {
    const q = request.query
    if (q.min_price !== undefined && q.max_price !== undefined && q.min_price > q.max_price) throw badRequest('min_price must not exceed max_price')
    return ok(await listProducts(catalog, { q: q.q, minPrice: q.min_price, maxPrice: q.max_price }, pageRequest(q, PRODUCT_SORT, 'id', 'asc')))
  })

  /** The server's clock, so pages count down to a sale's start by it rather than by the device's. */
  app.get('/time', {
    schema: { response: { 200: okSchema({ type: 'object', required: ['now'], properties: { now: { type: 'integer' } } }) } }
  }, async () => ok({ now: Date.now() }))

  app.get<{ Params: { id: string } }>('/products/:id', {
    config: perAddress,
    schema: { params: idParams, response: { 200: okSchema(productSchema), ...commonErrors } }
  }, async (request) => ok(await getProduct(catalog, Number(request.params.id))))

  app.get<{ Querystring: EventQuery }>('/events', {
    config: perAddress,
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { ...pageQueryProperties, status: { type: 'string', enum: ['upcoming', 'active', 'ended'] } }
      },
      response: { 200: okSchema(pageSchema(eventSchema)), ...commonErrors }
    }
  }, async (request) => ok(await listEvents(catalog, request.query.status, pageRequest(request.query, EVENT_SORT, 'start_at', 'asc'))))
}
