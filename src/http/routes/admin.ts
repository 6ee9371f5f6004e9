import type { FastifyInstance, FastifyRequest } from 'fastify'
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
import type { Knex } from 'knex'
import type { JsonSchema } from '../envelope'
import { ID_PATTERN } from '../schemas'
import { pageQueryProperties, pageRequest, pageSchema } from '../pagination'
import type { PageQuery } from '../pagination'
import { auditActor, auditAdminWrites } from '../admin-audit'
import { listAudit } from '../../domain/audit'
import type { AuditAction } from '../../domain/audit'
import { banUser, unbanUser } from '../../domain/bans'
import type { BanDeps } from '../../domain/bans'

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

const banBody: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: { reason: { type: 'string', minLength: 1, maxLength: 200, pattern: '\\S' } }
}
const banSchema: JsonSchema = {
  type: 'object',
  required: ['id', 'email', 'banned', 'ban_reason'],
  properties: { id: { type: 'string' }, email: { type: 'string' }, banned: { type: 'boolean' }, ban_reason: { type: ['string', 'null'] } }
}
const auditEntrySchema: JsonSchema = {
  type: 'object',
  required: ['id', 'at', 'actor_id', 'action', 'target_type', 'target_id', 'detail', 'request_id', 'address'],
  properties: {
    id: { type: 'string' },
    at: { type: 'string' },
    actor_id: { type: ['string', 'null'] },
    action: { type: 'string' },
    target_type: { type: 'string' },
    target_id: { type: ['string', 'null'] },
    detail: {},
    request_id: { type: ['string', 'null'] },
    address: { type: ['string', 'null'] }
  }
}
interface AuditQuery extends PageQuery { action?: string, actor_id?: string, target_type?: string, target_id?: string }
const auditQuery: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...pageQueryProperties,
    action: { type: 'string', pattern: '^[a-z]{1,16}\\.[a-z_]{1,16}$' },
    actor_id: { type: 'string', pattern: ID_PATTERN },
    target_type: { type: 'string', enum: ['product', 'event', 'order', 'user'] },
    target_id: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' }
  }
}

export interface AdminRouteDeps {
  readonly catalog: CatalogDeps
  readonly auth: Authenticator
  readonly lifecycle: LifecycleDeps
  readonly buyLatency: LatencyWindow
  /** LEASE_MS: a worker without a heartbeat for three of these is no longer listed in a sale's stats. */
  readonly leaseMs: number
  readonly bans: BanDeps
  readonly db: Knex
  /** Told of every audited admin write (the security event log). */
  readonly onAudited?: (request: FastifyRequest, action: AuditAction) => void
}

/** Everything under /admin: products, events, orders, bans, the audit trail. Admins only (403 for buyers). */
export async function adminRoutes (app: FastifyInstance, opts: AdminRouteDeps): Promise<void> {
  const { catalog, auth } = opts
  app.addHook('onRequest', auth.admin)
  app.addHook('onSend', auditAdminWrites(opts.db, opts.onAudited))
  await app.register(adminOrderRoutes, { lifecycle: opts.lifecycle })

  app.post<{ Body: ProductBody }>('/products', {
    config: { audit: { action: 'product.create', target: 'product' } },
    schema: { body: newProductBody, response: { 201: okSchema(productSchema), ...commonErrors } }
  }, async (request, reply) => {
    const b = request.body
    return await reply.code(201).send(ok(await createProduct(catalog, { title: b.title, priceCents: b.price_cents, description: b.description ?? null })))
  })

  app.patch<{ Params: { id: string }, Body: Partial<ProductBody> }>('/products/:id', {
    config: { audit: { action: 'product.update', target: 'product' } },
    schema: { params: idParams, body: productChangesBody, response: { 200: okSchema(productSchema), ...commonErrors } }
  }, async (request) => {
    const b = request.body
    return ok(await updateProduct(catalog, Number(request.params.id), { title: b.title, priceCents: b.price_cents, description: b.description }))
  })

  app.delete<{ Params: { id: string } }>('/products/:id', { config: { audit: { action: 'product.delete', target: 'product' } }, schema: { params: idParams, response: noContent } }, async (request, reply) => {
    await deleteProduct(catalog, Number(request.params.id))
    return await reply.code(204).send()
  })

  app.post<{ Body: EventBody }>('/events', {
    config: { audit: { action: 'event.create', target: 'event' } },
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
    config: { audit: { action: 'event.update', target: 'event' } },
    schema: { params: idParams, body: eventChangesBody, response: { 200: okSchema(eventSchema), ...commonErrors } }
  }, async (request) => ok(await updateEvent(catalog, Number(request.params.id), eventChanges(request.body))))

  app.delete<{ Params: { id: string } }>('/events/:id', { config: { audit: { action: 'event.delete', target: 'event' } }, schema: { params: idParams, response: noContent } }, async (request, reply) => {
    await deleteEvent(catalog, Number(request.params.id))
    return await reply.code(204).send()
  })

  app.post<{ Params: { id: string } }>('/events/:id/warmup', {
    config: { audit: { action: 'event.warmup', target: 'event' } },
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
    ...ok({ ...await saleStats({ ...catalog, orders: opts.lifecycle.orders, leaseMs: opts.leaseMs }, Number(request.params.id)), buy_p99_ms: await opts.buyLatency.p99Ms() })
  }))

  // Bans audit in their own transaction (src/domain/bans.ts).
  app.post<{ Params: { id: string }, Body: { reason: string } }>('/users/:id/ban', {
    schema: { params: idParams, body: banBody, response: { 200: okSchema(banSchema), ...commonErrors } }
  }, async (request) => {
    const banned = await banUser(opts.bans, request.params.id, request.body.reason.trim(), auditActor(request))
    opts.onAudited?.(request, 'user.ban')
    return ok(banned)
  })

  app.post<{ Params: { id: string } }>('/users/:id/unban', {
    schema: { params: idParams, response: { 200: okSchema(banSchema), ...commonErrors } }
  }, async (request) => {
    const lifted = await unbanUser(opts.bans, request.params.id, auditActor(request))
    opts.onAudited?.(request, 'user.unban')
    return ok(lifted)
  })

  /** The audit trail, newest first. */
  app.get<{ Querystring: AuditQuery }>('/audit', {
    schema: { querystring: auditQuery, response: { 200: okSchema(pageSchema(auditEntrySchema)), ...commonErrors } }
  }, async (request) => {
    const q = request.query
    const p = pageRequest(q, ['at'] as const, 'at')
    return ok(await listAudit(opts.db, { action: q.action, actorId: q.actor_id, targetType: q.target_type, targetId: q.target_id }, p))
  })
}
