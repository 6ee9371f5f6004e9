import type { FastifyInstance } from 'fastify'
import type { Authenticator } from '../auth'
import type { CatalogDeps } from '../../domain/catalog'
import { createEvent, createProduct } from '../../domain/catalog'
import { badRequest } from '../../domain/errors'
import { commonErrors, ok, okSchema } from '../envelope'
import { eventSchema, newEventBody, newProductBody, productSchema } from '../schemas'
import { adminOrderRoutes } from './orders'
import type { LifecycleDeps } from '../../domain/order-lifecycle'

interface NewProductBody { title: string, price_cents: number, description?: string }
interface NewEventBody { product_id: number, title: string, price_cents: number, stock: number, shards?: number, start_at: string, end_at: string }

function parseTime (value: string, field: string): Date {
  const ms = Date.parse(value)
  if (!Number.isFinite(ms)) throw badRequest(`${field} is not a valid time`)
  return new Date(ms)
}

export async function adminRoutes (app: FastifyInstance, opts: { catalog: CatalogDeps, auth: Authenticator, lifecycle: LifecycleDeps }): Promise<void> {
  const { catalog, auth } = opts
  app.addHook('onRequest', auth.admin)
  await app.register(adminOrderRoutes, { lifecycle: opts.lifecycle })

  app.post<{ Body: NewProductBody }>('/products', {
    schema: { body: newProductBody, response: { 201: okSchema(productSchema), ...commonErrors } }
  }, async (request, reply) => {
    const b = request.body
    const product = await createProduct(catalog, { title: b.title, priceCents: b.price_cents, description: b.description ?? null })
    return await reply.code(201).send(ok(product))
  })

  app.post<{ Body: NewEventBody }>('/events', {
    schema: { body: newEventBody, response: { 201: okSchema(eventSchema), ...commonErrors } }
  }, async (request, reply) => {
    const b = request.body
    const event = await createEvent(catalog, {
      productId: b.product_id,
      title: b.title,
      priceCents: b.price_cents,
      stock: b.stock,
      shards: b.shards ?? 1,
      startAt: parseTime(b.start_at, 'start_at'),
      endAt: parseTime(b.end_at, 'end_at')
    })
    return await reply.code(201).send(ok(event))
  })
}
