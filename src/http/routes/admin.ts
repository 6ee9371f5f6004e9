import type { FastifyInstance } from 'fastify'
import type { Authenticator } from '../auth'
import type { CatalogDeps } from '../../domain/catalog'
import { createEvent, createProduct, deleteEvent, deleteProduct, updateEvent, updateProduct, warmUpEvent } from '../../domain/catalog'
import type { EventChanges } from '../../domain/events'
import { badRequest } from '../../domain/errors'
import { commonErrors, ok, okSchema } from '../envelope'
import { eventChangesBody, eventSchema, saleStatsSchema, idParams, newEventBody, newProductBody, productChangesBody, productSchema } from '../schemas'
import { adminOrderRoutes } from './orders'
import { saleStats } from '../../domain/sale-stats'
import type { LatencyWindow } from '../latency-window'
import type { LifecycleDeps } from '../../domain/order-lifecycle'

interface ProductBody { title: string, price_cents: number, description?: string | null }
interface EventBody { product_id: number, title: string, price_cents: number, stock: number, shards?: number, start_at: string, end_at: string, require_token?: boolean }

function parseTime (value: string, field: string): Date {
  const ms = Date.parse(value)
  if (!Number.isFinite(ms)) throw badRequest(`${field} is not a valid time`)
  return new Date(ms)
}

function eventChanges (b: Partial<EventBody>): EventChanges {
  return {
    productId: b.product_id,
    title: b.title,
    priceCents: b.price_cents,
    stock: b.stock,
    shards: b.shards,
    startAt: b.start_at === undefined ? undefined : parseTime(b.start_at, 'start_at'),
    endAt: b.end_at === undefined ? undefined : parseTime(b.end_at, 'end_at'),
    requireToken: b.require_token
  }
}

const noContent = { 204: { type: 'null' }, ...commonErrors }

/** Everything under /admin: products, events, orders. Admins only (403 for buyers). */
export async function adminRoutes (app: FastifyInstance, opts: { catalog: CatalogDeps, auth: Authenticator, lifecycle: LifecycleDeps, buyLatency: LatencyWindow }): Promise<void> {
  const { catalog, auth } = opts
  app.addHook('onRequest', auth.admin)
  await app.register(adminOrderRoutes, { lifecycle: opts.lifecycle })

  app.post<{ Body: ProductBody }>('/products', {
    schema: { body: newProductBody, response: { 201: okSchema(productSchema), ...commonErrors } }
  }, async (request, reply) => {
    const b = request.body
    return await reply.code(201).send(ok(await createProduct(catalog, { title: b.title, priceCents: b.price_cents, description: b.description ?? null })))
  })

  app.patch<{ Params: { id: string }, Body: Partial<ProductBody> }>('/products/:id', {
    schema: { params: idParams, body: productChangesBody, response: { 200: okSchema(productSchema), ...commonErrors } }
  }, async (request) => {
    const b = request.body
    return ok(await updateProduct(catalog, Number(request.params.id), { title: b.title, priceCents: b.price_cents, description: b.description }))
  })

  app.delete<{ Params: { id: string } }>('/products/:id', { schema: { params: idParams, response: noContent } }, async (request, reply) => {
    await deleteProduct(catalog, Number(request.params.id))
    return await reply.code(204).send()
  })

  app.post<{ Body: EventBody }>('/events', {
    schema: { body: newEventBody, response: { 201: okSchema(eventSchema), ...commonErrors } }
  }, async (request, reply) => {
    const c = eventChanges(request.body)
    const event = await createEvent(catalog, {
      productId: request.body.product_id,
      title: request.body.title,
      priceCents: request.body.price_cents,
      stock: request.body.stock,
      shards: request.body.shards ?? 1,
      startAt: c.startAt as Date,
      endAt: c.endAt as Date,
      requireToken: request.body.require_token ?? false
    })
    return await reply.code(201).send(ok(event))
  })

  app.patch<{ Params: { id: string }, Body: Partial<EventBody> }>('/events/:id', {
    schema: { params: idParams, body: eventChangesBody, response: { 200: okSchema(eventSchema), ...commonErrors } }
  }, async (request) => ok(await updateEvent(catalog, Number(request.params.id), eventChanges(request.body))))

  app.delete<{ Params: { id: string } }>('/events/:id', { schema: { params: idParams, response: noContent } }, async (request, reply) => {
    await deleteEvent(catalog, Number(request.params.id))
    return await reply.code(204).send()
  })

  app.post<{ Params: { id: string } }>('/events/:id/warmup', {
    schema: {
      params: idParams,
      response: {
        200: okSchema({ type: 'object', required: ['warmed_shards', 'shard_stock'], properties: { warmed_shards: { type: 'integer' }, shard_stock: { type: 'array', items: { type: 'integer' } } } }),
        ...commonErrors
      }
    }
  }, async (request) => ok(await warmUpEvent(catalog, Number(request.params.id))))

  /** Live figures of one sale for the operator page (polled about once a second). */
  app.get<{ Params: { id: string } }>('/events/:id/stats', {
    schema: { params: idParams, response: { 200: okSchema(saleStatsSchema), ...commonErrors } }
  }, async (request) => ({
    ...ok({ ...await saleStats(catalog, Number(request.params.id)), buy_p99_ms: await opts.buyLatency.p99Ms() })
  }))
}
