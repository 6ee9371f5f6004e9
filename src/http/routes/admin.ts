import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Authenticator } from '../auth'
import type { CatalogDeps } from '../../catalog'
import { createEvent, createProduct, deleteEvent, deleteProduct, updateEvent, updateProduct, warmUpEvent } from '../../catalog'
import type { EventChanges } from '../../catalog'
import { badRequest } from '../../shared/errors'
import { commonErrors, ok, okSchema } from '../envelope'
import { eventChangesBody, eventSchema, saleStatsSchema, idParams, newEventBody, newProductBody, productChangesBody, productSchema } from '../schemas'
import { adminOrderRoutes } from './orders'
import { saleControlRoutes } from './sale-controls'
import { POW_DEFAULT_MAX_NUMBER, saleStats } from '../../sale'
import type { LifecycleDeps } from '../../orders'
import type { Knex } from 'knex'
import type { JsonSchema } from '../envelope'
import { ID_PATTERN } from '../schemas'
import { pageQueryProperties, pageRequest, pageSchema } from '../pagination'
import type { PageQuery } from '../pagination'
import { auditActor, auditAdminWrites, auditedBy } from '../admin-trail'
import { listAudit } from '../../shared/admin-trail'
import type { AuditAction } from '../../shared/admin-trail'
import { banUser, unbanUser } from '../../identity'
import type { AllocationMode, EntryMode } from '../../shared/allocation'
import type { BanDeps } from '../../identity'

interface ProductBody { title: string, price_cents: number, description?: string | null }
interface EventBody { product_id: number, title: string, description?: string | null, price_cents: number, stock: number, shards?: number, start_at: string, end_at: string, require_token?: boolean, require_verified_email?: boolean, mode?: AllocationMode, entry?: EntryMode, waitlist?: boolean, lead_ms?: number, proof_of_work?: boolean, pow_max_number?: number }

function parseTime (value: string, field: string): Date {
  const ms = Date.parse(value)
  if (!Number.isFinite(ms)) throw badRequest(`${field} is not a valid time`)
  return new Date(ms)
}

function eventChanges (b: Partial<EventBody>): EventChanges {
  return {
    productId: b.product_id,
    title: b.title,
    description: b.description,
    priceCents: b.price_cents,
    stock: b.stock,
    shards: b.shards,
    startAt: b.start_at === undefined ? undefined : parseTime(b.start_at, 'start_at'),
    endAt: b.end_at === undefined ? undefined : parseTime(b.end_at, 'end_at'),
    requireToken: b.require_token,
    requireVerifiedEmail: b.require_verified_email,
    mode: b.mode,
    entry: b.entry,
    waitlist: b.waitlist,
    leadMs: b.lead_ms,
    powMaxNumber: powSetting(b)
  }
}

/**
 * The sale's proof-of-work difficulty from `proof_of_work` and `pow_max_number`: a difficulty
 * turns it on, `true` alone turns it on at the default difficulty, `false` turns it off (null);
 * neither leaves it as it is (undefined).
 */
function powSetting (b: Partial<EventBody>): number | null | undefined {
  if (b.proof_of_work === false && b.pow_max_number !== undefined) throw badRequest('pow_max_number is the difficulty of proof_of_work: it cannot be set with proof_of_work: false')
  if (b.pow_max_number !== undefined) return b.pow_max_number
  if (b.proof_of_work === undefined) return undefined
  return b.proof_of_work ? POW_DEFAULT_MAX_NUMBER : null
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
  required: ['id', 'at', 'actor_id', 'action', 'target_type', 'target_id', 'detail', 'request_id', 'address', 'outcome'],
  properties: {
    id: { type: 'string' },
    at: { type: 'string' },
    actor_id: { type: ['string', 'null'] },
    action: { type: 'string' },
    target_type: { type: 'string' },
    target_id: { type: ['string', 'null'] },
    detail: {},
    request_id: { type: ['string', 'null'] },
    address: { type: ['string', 'null'] },
    outcome: { type: 'string', enum: ['done', 'refused', 'failed'] }
  }
}
interface AuditQuery extends PageQuery { action?: string, actor_id?: string, target_type?: string, target_id?: string, outcome?: string }
const auditQuery: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...pageQueryProperties,
    action: { type: 'string', pattern: '^[a-z]{1,16}\\.[a-z_]{1,16}$' },
    outcome: { type: 'string', enum: ['done', 'refused', 'failed'] },
    actor_id: { type: 'string', pattern: ID_PATTERN },
    target_type: { type: 'string', enum: ['product', 'event', 'order', 'user'] },
    target_id: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' }
  }
}

export interface AdminRouteDeps {
  readonly catalog: CatalogDeps
  readonly auth: Authenticator
  readonly lifecycle: LifecycleDeps
  /** The buy route's p99 across every ingress (src/http/shared-latency.ts). */
  readonly buyLatency: { p99Ms: () => Promise<number | null> }
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
  app.addHook('onSend', auditAdminWrites(opts.db, { onAudited: opts.onAudited, denied: true }))
  await app.register(adminOrderRoutes, { lifecycle: opts.lifecycle })
  await app.register(saleControlRoutes, { catalog })

  app.post<{ Body: ProductBody }>('/products', {
    config: { audit: { action: 'product.create', target: 'product' } },
    schema: { body: newProductBody, response: { 201: okSchema(productSchema), ...commonErrors } }
  }, async (request, reply) => {
    const b = request.body
    return await reply.code(201).send(ok(await createProduct(catalog, { title: b.title, priceCents: b.price_cents, description: b.description ?? null }, auditedBy(request))))
  })

  app.patch<{ Params: { id: string }, Body: Partial<ProductBody> }>('/products/:id', {
    config: { audit: { action: 'product.update', target: 'product' } },
    schema: { params: idParams, body: productChangesBody, response: { 200: okSchema(productSchema), ...commonErrors } }
  }, async (request) => {
    const b = request.body
    return ok(await updateProduct(catalog, Number(request.params.id), { title: b.title, priceCents: b.price_cents, description: b.description }, auditedBy(request)))
  })

  app.delete<{ Params: { id: string } }>('/products/:id', { config: { audit: { action: 'product.delete', target: 'product' } }, schema: { params: idParams, response: noContent } }, async (request, reply) => {
    await deleteProduct(catalog, Number(request.params.id), auditedBy(request))
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
      description: request.body.description ?? null,
      priceCents: request.body.price_cents,
      stock: request.body.stock,
      shards: request.body.shards ?? 1,
      startAt: c.startAt as Date,
      endAt: c.endAt as Date,
      requireToken: request.body.require_token ?? false,
      requireVerifiedEmail: request.body.require_verified_email ?? false,
      mode: request.body.mode,
      entry: request.body.entry,
      // Left out: false, or true for a draw (its runners-up wait on it; the catalog sets it).
      ...(request.body.waitlist !== undefined ? { waitlist: request.body.waitlist } : {}),
      powMaxNumber: c.powMaxNumber ?? null,
      ...(request.body.lead_ms !== undefined ? { leadMs: request.body.lead_ms } : {})
    }, undefined, auditedBy(request))
    return await reply.code(201).send(ok(event))
  })

  app.patch<{ Params: { id: string }, Body: Partial<EventBody> }>('/events/:id', {
    config: { audit: { action: 'event.update', target: 'event' } },
    schema: { params: idParams, body: eventChangesBody, response: { 200: okSchema(eventSchema), ...commonErrors } }
  }, async (request) => ok(await updateEvent(catalog, Number(request.params.id), eventChanges(request.body), undefined, auditedBy(request))))

  app.delete<{ Params: { id: string } }>('/events/:id', { config: { audit: { action: 'event.delete', target: 'event' } }, schema: { params: idParams, response: noContent } }, async (request, reply) => {
    await deleteEvent(catalog, Number(request.params.id), auditedBy(request))
    return await reply.code(204).send()
  })

  app.post<{ Params: { id: string } }>('/events/:id/warmup', {
    // A warm-up changes Redis only: recorded once it succeeded.
    config: { audit: { action: 'event.warmup', target: 'event', after: true } },
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

  // Bans audit in their own transaction (src/identity/bans.ts); the config records refused ones.
  app.post<{ Params: { id: string }, Body: { reason: string } }>('/users/:id/ban', {
    config: { audit: { action: 'user.ban', target: 'user' } },
    schema: { params: idParams, body: banBody, response: { 200: okSchema(banSchema), ...commonErrors } }
  }, async (request) => {
    return ok(await banUser(opts.bans, request.params.id, request.body.reason.trim(), auditActor(request)))
  })

  app.post<{ Params: { id: string } }>('/users/:id/unban', {
    config: { audit: { action: 'user.unban', target: 'user' } },
    schema: { params: idParams, response: { 200: okSchema(banSchema), ...commonErrors } }
  }, async (request) => {
    return ok(await unbanUser(opts.bans, request.params.id, auditActor(request)))
  })

  /** The audit trail, newest first. */
  app.get<{ Querystring: AuditQuery }>('/audit', {
    schema: { querystring: auditQuery, response: { 200: okSchema(pageSchema(auditEntrySchema)), ...commonErrors } }
  }, async (request) => {
    const q = request.query
    const p = pageRequest(q, ['at'] as const, 'at')
    return ok(await listAudit(opts.db, { action: q.action, actorId: q.actor_id, targetType: q.target_type, targetId: q.target_id, outcome: q.outcome }, p))
  })
}
