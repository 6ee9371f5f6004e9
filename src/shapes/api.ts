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
import type { Static, TInteger, TNumber, TSchema, TString, TUnsafe } from '@sinclair/typebox'

/** A string from a fixed list, as `{type: 'string', enum}` (what fast-json-stringify and OpenAPI read best). */
function StringEnum<const T extends readonly string[]> (values: T, opts: { description?: string } = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...opts })
}

/** A string or number that may be null, as `{type: [t, 'null']}` (an `anyOf` would make the serializer validate to choose). */
function Nullable<T extends TString | TNumber | TInteger> (schema: T): TUnsafe<Static<T> | null> {
  return Type.Unsafe<Static<T> | null>({ ...schema, type: [schema.type, 'null'] })
}

export const EVENT_STATUSES = ['upcoming', 'active', 'sold_out', 'ended'] as const
export type EventStatus = typeof EVENT_STATUSES[number]

/** How a sale allocates its units (src/sale/allocation/): the values this release implements. */
export const ALLOCATION_MODES = ['first_come', 'draw'] as const
/** How buyers enter a sale: at the start, or in a lead window before it, placed in random order at the start. */
export const ENTRY_MODES = ['on_start', 'random_at_start'] as const

export const TICKET_STATUSES = ['queued', 'won', 'sold_out', 'failed'] as const
export type TicketStatus = typeof TICKET_STATUSES[number]

export const ORDER_STATUSES = ['pending_payment', 'paid', 'cancelled', 'expired', 'refunded'] as const
export type OrderStatus = typeof ORDER_STATUSES[number]

/** A sale as buyers and the admin see it. */
export const EventViewSchema = Type.Object({
  id: Type.Integer(),
  product_id: Type.Integer(),
  title: Type.String(),
  description: Nullable(Type.String({ description: 'the sale\'s own text for buyers (plain text; show it as text); null when there is none' })),
  price_cents: Type.Integer(),
  stock: Type.Integer(),
  sold: Type.Integer(),
  remaining: Type.Integer(),
  shards: Type.Integer(),
  start_at: Type.String({ description: 'ISO 8601, UTC' }),
  end_at: Type.String({ description: 'ISO 8601, UTC' }),
  require_token: Type.Boolean({ description: 'buys need a buy token (POST /events/:id/buy-token)' }),
  require_verified_email: Type.Boolean({ description: 'only buyers with a verified email may buy (POST /me/email/verify)' }),
  mode: StringEnum(ALLOCATION_MODES, { description: 'how units go to buyers: first_come (arrival order per shard), or draw (entries in the lead window before start_at, drawn at start_at: the first `stock` in drawn order win, the rest are runners-up for units that come back; GET /events/:id/draw)' }),
  entry: StringEnum(ENTRY_MODES, { description: 'how buyers enter: on_start (buying opens at start_at), or random_at_start (buyers who ask in the lead window before start_at are placed in random order at the start, later ones behind them)' }),
  lead_ms: Nullable(Type.Integer({ description: 'random_at_start: how long before start_at buyers may enter (ms); null otherwise' })),
  start_commitment: Nullable(Type.String({ description: 'random_at_start: SHA-256 (hex) of the secret seed that orders the lead window\'s buyers, published before anyone enters; the seed is revealed at GET /events/:id/start-draw once they are placed' })),
  paused: Type.Boolean({ description: 'an operator holds the sale: buyers still join the line, nobody is decided until it resumes' }),
  waitlist: Type.Boolean({ description: 'buyers turned away wait on a list, in arrival order, for units that come back' }),
  proof_of_work: Type.Boolean({ description: 'buys need a solved proof-of-work challenge: GET /events/:id/challenge, solved, then sent in the X-Proof-Of-Work header of the buy' }),
  pow_max_number: Nullable(Type.Integer({ description: 'the challenge\'s difficulty: the largest counter a solver may have to try (about half on average); null without proof of work' })),
  line_message: Nullable(Type.String({ description: 'the operator\'s message to everyone in line (plain text, at most 280 characters; show it as text, never as HTML); null when there is none' })),
  line_message_at: Nullable(Type.String({ description: 'when the message was set (ISO 8601, UTC, MySQL\'s clock); null when there is none' })),
  status: StringEnum(EVENT_STATUSES)
})
export type EventView = Static<typeof EventViewSchema>

/** The difficulties a sale may set (pow_max_number): below, a bot pays nothing; the top is ten times the default. */
export const POW_MAX_NUMBER_MIN = 1000
export const POW_MAX_NUMBER_MAX = 10_000_000

/**
 * A proof-of-work challenge (GET /events/:id/challenge), in ALTCHA's v2 format with SHA-256: find
 * the counter n (0 <= n <= the sale's pow_max_number) for which SHA-256(salt || nonce || n as 4
 * bytes, big-endian) starts with the bytes of `keyPrefix`; send back the challenge and
 * `{counter, derivedKey}` (the digest, hex), as base64 JSON, in the buy's X-Proof-Of-Work header.
 */
export const PowChallengeSchema = Type.Object({
  parameters: Type.Object({
    algorithm: Type.Literal('SHA-256'),
    cost: Type.Literal(1, { description: 'rounds of SHA-256 per try' }),
    data: Type.Object({
      e: Type.Integer({ description: 'the sale the challenge is for' }),
      m: Type.Integer({ description: 'the sale\'s difficulty (pow_max_number) it was issued at: refused once the sale\'s is raised above it' }),
      u: Type.String({ description: 'the buyer it was issued to' })
    }),
    expiresAt: Type.Integer({ description: 'seconds since the epoch, on the service\'s clock: a buy after it is refused (POW_EXPIRED)' }),
    keyLength: Type.Literal(32),
    keyPrefix: Type.String({ description: 'hex: the first bytes the digest must have' }),
    nonce: Type.String({ description: 'hex, 16 bytes; also the challenge\'s id (each is spent once)' }),
    salt: Type.String({ description: 'hex, 16 bytes' })
  }),
  signature: Type.String({ description: 'HMAC-SHA256 of the parameters\' canonical JSON (keys sorted), hex' })
})
export type PowChallenge = Static<typeof PowChallengeSchema>

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
  reason: Type.Optional(Type.String()),
  waitlisted: Type.Optional(Type.Boolean({ description: 'sold_out, but on the sale\'s waitlist: a unit that comes back goes to the first on it' })),
  waitlist_place: Type.Optional(Type.Integer({ description: 'place on the waitlist, 1 = next' })),
  awaiting_draw: Type.Optional(Type.Boolean({ description: 'queued, entered in a randomized start\'s lead window: you are in, your place will be drawn at the start (the ticket then leads to the placed one)' })),
  entry_id: Type.Optional(Type.String({ description: 'randomized start: the buyer\'s entry id, as listed by GET /events/:id/start-draw' }))
})
export type TicketView = Static<typeof TicketViewSchema>

/** A randomized start's draw, as anyone may check it (GET /events/:id/start-draw). */
export const StartDrawViewSchema = Type.Object({
  event_id: Type.Integer(),
  commitment: Type.String({ description: 'SHA-256 (hex) of the seed, published before the lead window opened' }),
  seed: Nullable(Type.String({ description: 'the seed (hex), revealed once every shard has placed its lead-window buyers; null until then' })),
  shards: Type.Array(Type.Object({
    shard: Type.Integer(),
    first_position: Type.Integer({ description: 'queue position of the first placed entry (the rest follow, one each)' }),
    order: Type.Array(Type.String(), { description: 'entry ids in the order they were placed: ranked by HMAC-SHA256(seed, entry id), lowest first' })
  }), { description: 'one per shard placed so far (empty until the seed is revealed)' })
})
export type StartDrawView = Static<typeof StartDrawViewSchema>

/** A draw sale's result, as anyone may check it (GET /events/:id/draw; the README's check). */
export const DrawViewSchema = Type.Object({
  event_id: Type.Integer(),
  commitment: Type.String({ description: 'SHA-256 (hex) of the seed, published before entries opened' }),
  seed: Nullable(Type.String({ description: 'the seed (hex), revealed once the entries are drawn (at start_at, the close); null until then' })),
  units: Type.Integer({ description: 'units drawn: the sale\'s stock' }),
  entries: Type.Array(Type.String(), { description: 'every entry id, sorted as text (empty until the seed is revealed)' }),
  excluded: Type.Array(Type.String(), { description: 'entry ids excluded from the draw (their entrant was banned before it), sorted as text: ranked, but passed over (empty until the seed is revealed)' }),
  winners: Type.Array(Type.String(), { description: 'the first `units` entry ids ranked by HMAC-SHA256(seed, entry id), lowest first, passing over the excluded; the rest are runners-up in that order (empty until the seed is revealed)' })
})
export type DrawView = Static<typeof DrawViewSchema>

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
  waiting: Type.Integer({ description: 'admitted tickets not decided yet, as the admission script counts them' }),
  in_line: Type.Integer({ description: 'queue positions handed out and not decided yet (admitted − decided): buyers in line, including those in a batch that has not finished' }),
  oldest_wait_ms: Nullable(Type.Number({ description: 'how long the first undecided ticket has waited since it was admitted; null when nobody waits' })),
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
  paused: Type.Boolean({ description: 'an operator holds the sale (POST /admin/events/:id/pause)' }),
  shards: Type.Array(ShardStatsSchema),
  orders: Type.Object({
    pending_payment: Type.Integer(),
    paid: Type.Integer(),
    cancelled: Type.Integer(),
    expired: Type.Integer(),
    refunded: Type.Integer()
  }, { description: 'the sale\'s orders by status' }),
  payments: Type.Object({
    pending: Type.Integer(),
    failed: Type.Integer(),
    captured: Type.Integer(),
    refunding: Type.Integer(),
    refunded: Type.Integer()
  }, { description: 'the sale\'s payments by status (captured: its order is paid)' }),
  workers: Type.Array(Type.Object({
    id: Type.String(),
    seen_ms_ago: Type.Integer({ description: 'since its last heartbeat (one a discovery round)' })
  }), { description: 'the workers alive now (a heartbeat within three leases)' }),
  buy_p99_ms: Nullable(Type.Number({ description: 'p99 of the buys every ingress answered in the last 5 complete seconds (bucket upper bound); null when none was answered' }))
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
