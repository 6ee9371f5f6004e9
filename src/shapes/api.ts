/**
 * The API's answer shapes, each declared once: a JSON schema built with TypeBox, which the routes
 * answer with (Fastify serializes by it, and /docs shows it), and its TypeScript type (`Static`),
 * which the domain builds and the pages (src/web) read. Request bodies and query strings stay
 * beside their routes, where they are validated.
 *
 * Self-contained on purpose: the pages import these types, so this file imports nothing of the
 * service (the web build type-checks it without Node's types).
 */
import { Type } from '@sinclair/typebox'
import type { Static, TNumber, TSchema, TString, TUnsafe } from '@sinclair/typebox'

/** A string from a fixed list, as `{type: 'string', enum}` (what fast-json-stringify and OpenAPI read best). */
function StringEnum<const T extends readonly string[]> (values: T): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values] })
}

/** A string or number that may be null, as `{type: [t, 'null']}` (an `anyOf` would make the serializer validate to choose). */
function Nullable<T extends TString | TNumber> (schema: T): TUnsafe<Static<T> | null> {
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [schema.type, 'null'] })
}

export const EVENT_STATUSES = ['upcoming', 'active', 'sold_out', 'ended'] as const
export type EventStatus = typeof EVENT_STATUSES[number]

export const TICKET_STATUSES = ['queued', 'won', 'sold_out', 'failed'] as const
export type TicketStatus = typeof TICKET_STATUSES[number]

export const ORDER_STATUSES = ['pending_payment', 'paid', 'cancelled', 'expired'] as const
export type OrderStatus = typeof ORDER_STATUSES[number]

/** A sale as buyers and the admin see it. */
export const EventViewSchema = Type.Object({
  id: Type.Integer(),
  product_id: Type.Integer(),
  title: Type.String(),
  price_cents: Type.Integer(),
  stock: Type.Integer(),
  sold: Type.Integer(),
  remaining: Type.Integer(),
  shards: Type.Integer(),
  start_at: Type.String({ description: 'ISO 8601, UTC' }),
  end_at: Type.String({ description: 'ISO 8601, UTC' }),
  require_token: Type.Boolean({ description: 'buys need a buy token (POST /events/:id/buy-token)' }),
  status: StringEnum(EVENT_STATUSES)
})
export type EventView = Static<typeof EventViewSchema>

export const ProductViewSchema = Type.Object({
  id: Type.Integer(),
  title: Type.String(),
  description: Nullable(Type.String()),
  price_cents: Type.Integer()
})
export type ProductView = Static<typeof ProductViewSchema>

/** A buy's ticket: queued with its place, or final (won with its order, sold out, failed with a reason). */
export const TicketViewSchema = Type.Object({
  ticket_id: Type.String(),
  status: StringEnum(TICKET_STATUSES),
  position: Type.Optional(Type.Integer()),
  eta_ms: Type.Optional(Type.Integer()),
  order_id: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String())
})
export type TicketView = Static<typeof TicketViewSchema>

export const OrderViewSchema = Type.Object({
  id: Type.String(),
  ticket_id: Type.String(),
  event_id: Type.Integer(),
  user_id: Type.String(),
  price_cents: Type.Integer(),
  status: StringEnum(ORDER_STATUSES),
  created_at: Type.String(),
  expires_at: Nullable(Type.String()),
  paid_at: Nullable(Type.String())
})
export type OrderView = Static<typeof OrderViewSchema>

/** One shard of a sale, live, for the operator page. */
export const ShardStatsSchema = Type.Object({
  shard: Type.Integer(),
  admitted: Type.Integer({ description: 'queue positions handed out (admitted tickets)' }),
  decided: Type.Integer({ description: 'highest position the drain has decided' }),
  waiting: Type.Integer({ description: 'admitted tickets not decided yet' }),
  units_left: Type.Integer({ description: 'units of the shard not reserved yet' }),
  turned_away: Type.Integer({ description: 'buyers turned away at the shard\'s gate' }),
  owner: Nullable(Type.String({ description: 'the worker holding the shard\'s lease (as in `workers`); null while no worker holds it' }))
})
export type ShardStats = Static<typeof ShardStatsSchema>

export const SaleStatsSchema = Type.Object({
  event_id: Type.Integer(),
  at: Type.Integer({ description: 'server time of the sample, ms since the epoch' }),
  stock: Type.Integer(),
  sold: Type.Integer(),
  shards: Type.Array(ShardStatsSchema),
  orders: Type.Object({
    pending_payment: Type.Integer(),
    paid: Type.Integer(),
    cancelled: Type.Integer(),
    expired: Type.Integer()
  }, { description: 'the sale\'s orders by status' }),
  workers: Type.Array(Type.Object({
    id: Type.String(),
    seen_ms_ago: Type.Integer({ description: 'since its last heartbeat (one a discovery round)' })
  }), { description: 'the workers alive now (a heartbeat within three leases)' }),
  buy_p99_ms: Nullable(Type.Number({ description: 'this ingress\'s buy p99 since the previous sample; null when no buy was answered' }))
})
export type SaleStats = Static<typeof SaleStatsSchema>

/** A page of a list. */
export function PageSchema<T extends TSchema> (item: T) {
  return Type.Object({ items: Type.Array(item), page: Type.Integer(), page_size: Type.Integer(), total: Type.Integer() })
}
export interface Page<T> {
  readonly items: readonly T[]
  readonly page: number
  readonly page_size: number
  readonly total: number
}
