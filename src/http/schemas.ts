/** JSON schemas shared by the routes. */
import { MAX_SHARDS, MAX_STOCK } from '../catalog'
import { TICKET_ID_PATTERN } from '../shared/ticket-ids'
import { badRequest } from '../shared/errors'
import type { JsonSchema } from './envelope'
import { MAX_LEAD_MS, MIN_LEAD_MS } from '../shared/allocation'
import { ALLOCATION_MODES, DrawViewSchema, ENTRY_MODES, EventViewSchema, POW_MAX_NUMBER_MAX, POW_MAX_NUMBER_MIN, ProductViewSchema, SaleStatsSchema, StartDrawViewSchema, TicketViewSchema } from '../shapes/api'

/** Ids are MySQL auto-increments read with Number(): at most 15 digits stays an exact integer
 *  (16 could pass 2^53 and name another row). */
export const ID_PATTERN = '^[1-9][0-9]{0,14}$'

/** The highest price a product or sale may have, and a price filter may name. */
export const MAX_PRICE_CENTS = 100_000_000

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
export const startDrawSchema: JsonSchema = StartDrawViewSchema
export const drawSchema: JsonSchema = DrawViewSchema

export const saleStatsSchema: JsonSchema = SaleStatsSchema

export const productSchema: JsonSchema = ProductViewSchema

export const newProductBody: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['title', 'price_cents'],
  properties: {
    title: { type: 'string', minLength: 1, maxLength: 200, pattern: '\\S' },
    description: { type: 'string', maxLength: 5000 },
    price_cents: { type: 'integer', minimum: 0, maximum: MAX_PRICE_CENTS }
  }
}

const eventFields = {
  product_id: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
  title: { type: 'string', minLength: 1, maxLength: 200, pattern: '\\S' },
  // The sale's own text for buyers; null removes it.
  description: { type: ['string', 'null'], maxLength: 2000 },
  price_cents: { type: 'integer', minimum: 0, maximum: MAX_PRICE_CENTS },
  stock: { type: 'integer', minimum: 1, maximum: MAX_STOCK },
  shards: { type: 'integer', minimum: 1, maximum: MAX_SHARDS },
  start_at: { type: 'string', format: 'date-time' },
  end_at: { type: 'string', format: 'date-time' },
  require_token: { type: 'boolean' },
  require_verified_email: { type: 'boolean' },
  // Only the policies this release implements: anything else is a 400 naming the allowed values.
  mode: { type: 'string', enum: [...ALLOCATION_MODES] },
  entry: { type: 'string', enum: [...ENTRY_MODES] },
  waitlist: { type: 'boolean' },
  // A randomized start's lead window (entry random_at_start only; checked with the rest).
  lead_ms: { type: 'integer', minimum: MIN_LEAD_MS, maximum: MAX_LEAD_MS },
  // Proof of work (src/sale/proof-of-work.ts). Below the minimum a bot pays nothing; the maximum
  // is ten times the default difficulty (bench/pow-phone.ts measures what a phone pays).
  proof_of_work: { type: 'boolean' },
  pow_max_number: { type: 'integer', minimum: POW_MAX_NUMBER_MIN, maximum: POW_MAX_NUMBER_MAX }
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
    price_cents: { type: 'integer', minimum: 0, maximum: MAX_PRICE_CENTS }
  }
}

const IDEMPOTENCY_KEY = /^[A-Za-z0-9_.:-]{1,128}$/

/** An `Idempotency-Key` header, when given, must be well formed (400 otherwise). */
export function checkIdempotencyKey (key: unknown): void {
  if (key !== undefined && (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key))) {
    throw badRequest('Idempotency-Key must be 1-128 characters of letters, digits, _ . : -')
  }
}
