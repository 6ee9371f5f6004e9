import type { Knex } from 'knex'
import { auditAdminWrites, auditedBy } from '../admin-trail'
import type { AuditHookOptions } from '../admin-trail'
import type { FastifyInstance } from 'fastify'
import type { Authenticator } from '../auth'
import { userOf } from '../auth'
import type { LifecycleDeps } from '../../orders'
import { cancelOrder, getOrder, payOrder } from '../../orders'
import { ORDER_STATUSES, orderView } from '../../orders'
import type { OrderFilter, OrderSortField, OrderStatus } from '../../orders'
import { commonErrors, ok, okSchema } from '../envelope'
import type { JsonSchema } from '../envelope'
import { pageQueryProperties, pageRequest, pageSchema } from '../pagination'
import type { PageQuery } from '../pagination'
import { ID_PATTERN, checkIdempotencyKey, idParams } from '../schemas'
import { OrderViewSchema } from '../../shapes/api'

const SORT_FIELDS: readonly OrderSortField[] = ['created_at', 'id', 'price_cents']

export const orderSchema: JsonSchema = OrderViewSchema

interface ListQuery extends PageQuery {
  status?: OrderStatus
  event_id?: string
  user_id?: string
}

const listQuery = (admin: boolean): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  properties: {
    ...pageQueryProperties,
    status: { type: 'string', enum: ORDER_STATUSES },
    ...(admin ? { event_id: { type: 'string', pattern: ID_PATTERN }, user_id: { type: 'string', pattern: ID_PATTERN } } : {})
  }
})

/** The buyer's orders: list, read, pay (simulated), cancel. */
export async function orderRoutes (app: FastifyInstance, opts: { lifecycle: LifecycleDeps, auth: Authenticator, db: Knex, onAudited?: AuditHookOptions['onAudited'] }): Promise<void> {
  const { lifecycle, auth } = opts
  app.addHook('onRequest', auth.required)
  app.addHook('onSend', auditAdminWrites(opts.db, { onAudited: opts.onAudited }))
  const reader = (r: Parameters<typeof userOf>[0]): { userId: string, isAdmin: boolean } => {
    const u = userOf(r)
    return { userId: u.id, isAdmin: u.role === 'admin' }
  }

  app.get<{ Querystring: ListQuery }>('/orders', {
    schema: { querystring: listQuery(false), response: { 200: okSchema(pageSchema(orderSchema)), ...commonErrors } }
  }, async (request) => {
    const p = pageRequest(request.query, SORT_FIELDS, 'created_at')
    const filter: OrderFilter = { userId: userOf(request).id, status: request.query.status }
    const { items, total } = await lifecycle.orders.list(filter, p)
    return ok({ items: items.map(orderView), page: p.page, page_size: p.pageSize, total })
  })

  app.get<{ Params: { id: string } }>('/orders/:id', {
    schema: { params: idParams, response: { 200: okSchema(orderSchema), ...commonErrors } }
  }, async (request) => ok(await getOrder(lifecycle, Number(request.params.id), reader(request))))

  app.post<{ Params: { id: string } }>('/orders/:id/pay', {
    schema: { params: idParams, response: { 200: okSchema(orderSchema), ...commonErrors } }
  }, async (request) => {
    // Paying is idempotent per order: a replay (same key or none) answers the paid order.
    checkIdempotencyKey(request.headers['idempotency-key'])
    return ok(await payOrder(lifecycle, Number(request.params.id), reader(request)))
  })

  app.post<{ Params: { id: string } }>('/orders/:id/cancel', {
    // Audited when an admin cancels a buyer's order (support).
    config: { audit: { action: 'order.cancel', target: 'order' } },
    schema: { params: idParams, response: { 200: okSchema(orderSchema), ...commonErrors } }
  }, async (request) => ok(await cancelOrder(lifecycle, Number(request.params.id), reader(request), auditedBy(request))))
}

/** Every order, for admins, with filters. */
export async function adminOrderRoutes (app: FastifyInstance, opts: { lifecycle: LifecycleDeps }): Promise<void> {
  app.get<{ Querystring: ListQuery }>('/orders', {
    schema: { querystring: listQuery(true), response: { 200: okSchema(pageSchema(orderSchema)), ...commonErrors } }
  }, async (request) => {
    const q = request.query
    const p = pageRequest(q, SORT_FIELDS, 'created_at')
    const filter: OrderFilter = {
      status: q.status,
      eventId: q.event_id === undefined ? undefined : Number(q.event_id),
      userId: q.user_id
    }
    const { items, total } = await opts.lifecycle.orders.list(filter, p)
    return ok({ items: items.map(orderView), page: p.page, page_size: p.pageSize, total })
  })
}
