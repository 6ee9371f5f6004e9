/** JSON schemas shared by the routes. */
import { MAX_SHARDS, MAX_STOCK } from '../domain/events'
import { TICKET_ID_PATTERN } from '../domain/tickets'
import { badRequest } from '../domain/errors'
import type { JsonSchema } from './envelope'
import { EventViewSchema, ProductViewSchema, SaleStatsSchema, TicketViewSchema } from '../shapes/api'

export const ID_PATTERN = '^[1-9][0-9]{0,15}$'

export const idParams: JsonSchema = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: ID_PATTERN } }
}

export const ticketParams: JsonSchema = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: TICKET_ID_PATTERN, maxLength: 48 } }
}

/** The answers' shapes are declared once, in src/shapes/api.ts. */
export const ticketSchema: JsonSchema = TicketViewSchema

export const eventSchema: JsonSchema = EventViewSchema

export const saleStatsSchema: JsonSchema = SaleStatsSchema

export const productSchema: JsonSchema = ProductViewSchema

export const newProductBody: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['title', 'price_cents'],
  properties: {
    title: { type: 'string', minLength: 1, maxLength: 200, pattern: '\\S' },
    description: { type: 'string', maxLength: 5000 },
    price_cents: { type: 'integer', minimum: 0, maximum: 100_000_000 }
  }
}

const eventFields = {
  product_id: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
  title: { type: 'string', minLength: 1, maxLength: 200, pattern: '\\S' },
  price_cents: { type: 'integer', minimum: 0, maximum: 100_000_000 },
  stock: { type: 'integer', minimum: 1, maximum: MAX_STOCK },
  shards: { type: 'integer', minimum: 1, maximum: MAX_SHARDS },
  start_at: { type: 'string', format: 'date-time' },
  end_at: { type: 'string', format: 'date-time' },
  require_token: { type: 'boolean' }
}

export const newEventBody: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['product_id', 'title', 'price_cents', 'stock', 'start_at', 'end_at'],
  properties: eventFields
}

export const eventChangesBody: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: eventFields
}

export const productChangesBody: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    title: { type: 'string', minLength: 1, maxLength: 200, pattern: '\\S' },
    description: { type: ['string', 'null'], maxLength: 5000 },
    price_cents: { type: 'integer', minimum: 0, maximum: 100_000_000 }
  }
}

const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:-]{1,128}$/

/** An `Idempotency-Key` header, when given, must be well formed (400 otherwise). */
export function checkIdempotencyKey (key: unknown): void {
  if (key !== undefined && (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key))) {
    throw badRequest('Idempotency-Key must be 1-128 characters of letters, digits, _ . : -')
  }
}
