import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { CatalogDeps } from '../../catalog'
import { catalogKeys, getProduct, listEvents, listProducts } from '../../catalog'
import type { EventSortField } from '../../catalog'
import type { ProductSortField } from '../../catalog'
import { badRequest } from '../../shared/errors'
import { commonErrors, ok, okSchema } from '../envelope'
import { pageQueryProperties, pageRequest, pageSchema } from '../pagination'
import type { PageQuery } from '../pagination'
import { MAX_PRICE_CENTS, eventSchema, idParams, productSchema } from '../schemas'

interface ProductQuery extends PageQuery { q?: string, min_price?: number, max_price?: number }
interface EventQuery extends PageQuery { status?: 'upcoming' | 'active' | 'ended' }

const PRODUCT_SORT: readonly ProductSortField[] = ['id', 'title', 'price_cents', 'created_at']
const EVENT_SORT: readonly EventSortField[] = ['id', 'start_at', 'end_at']

/**
 * The public catalog: products and events, no authentication. A read that reaches MySQL (an
 * answer not in the short catalog cache: a search nobody made in the last moments) is limited per
 * address, generously: 300 random searches at once from one address had pushed other buyers'
 * event reads from 32 ms to 1.2 s at p99. Cached answers are not counted, so a crowd behind one
 * address (a campus, a carrier) loading the same front page is not turned away; nor are the sale
 * page's reads (`GET /events/:id`, `GET /time`), answered from the process's memory.
 */
export async function catalogRoutes (app: FastifyInstance, opts: { catalog: CatalogDeps, readLimit: { max: number, timeWindow: number } }): Promise<void> {
  const { catalog } = opts
  const uncached = (key: (r: FastifyRequest) => string) => ({
    rateLimit: {
      ...opts.readLimit,
      keyGenerator: (r: FastifyRequest) => `read-ip:${r.ip}`,
      allowList: (r: FastifyRequest) => {
        try {
          return catalog.cache.has(key(r))
        } catch {
          return false // a malformed query: counted, then refused by the handler
        }
      }
    }
  })
  const productsKey = (r: FastifyRequest): string => {
    const q = r.query as ProductQuery
    return catalogKeys.products({ q: q.q, minPrice: q.min_price, maxPrice: q.max_price }, pageRequest(q, PRODUCT_SORT, 'id', 'asc'))
  }
  const productKey = (r: FastifyRequest): string => catalogKeys.product(Number((r.params as { id: string }).id))
  const eventsKey = (r: FastifyRequest): string => {
    const q = r.query as EventQuery
    return catalogKeys.events(q.status, pageRequest(q, EVENT_SORT, 'start_at', 'asc'))
  }

  app.get<{ Querystring: ProductQuery }>('/products', {
    config: uncached(productsKey),
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          ...pageQueryProperties,
          q: { type: 'string', maxLength: 100 },
          min_price: { type: 'integer', minimum: 0, maximum: MAX_PRICE_CENTS },
          max_price: { type: 'integer', minimum: 0, maximum: MAX_PRICE_CENTS }
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
    config: uncached(productKey),
    schema: { params: idParams, response: { 200: okSchema(productSchema), ...commonErrors } }
  }, async (request) => ok(await getProduct(catalog, Number(request.params.id))))

  app.get<{ Querystring: EventQuery }>('/events', {
    config: uncached(eventsKey),
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
