/**
 * Sale events: the repository over `seckill_events` and the rules of an event's window.
 */
import { raiseFence } from '../db/shard-fences'
import { recordReturns } from './unit-returns'
import type { ShardRef } from '../redis/keys'
import type { Knex } from 'knex'
import type { Db } from '../db/knex'
import { badRequest } from './errors'
import type { PageRequest } from './orders'
import { LIVE_ORDER_STATUSES } from './orders'
import { bannedUserIds } from './accounts'

export interface SaleEvent {
  readonly id: number
  readonly productId: number
  readonly title: string
  readonly priceCents: number
  readonly stock: number
  readonly sold: number
  readonly shards: number
  readonly startAt: Date
  readonly endAt: Date
  /** Buyers need a buy token (issued shortly before the start) to buy. */
  readonly requireToken: boolean
  /** When the sale's state first went into Redis; null until then. */
  readonly warmedAt: Date | null
}

export type { EventStatus } from '../shapes/api'

export interface NewEvent {
  readonly productId: number
  readonly title: string
  readonly priceCents: number
  readonly stock: number
  readonly shards: number
  readonly startAt: Date
  readonly endAt: Date
  readonly requireToken: boolean
}

export type EventChanges = Partial<NewEvent>

export type EventSortField = 'id' | 'start_at' | 'end_at'

export const MAX_SHARDS = 64
export const MAX_STOCK = 10_000_000

interface EventRow {
  id: number | string
  product_id: number | string
  title: string
  price_cents: number
  stock: number
  sold: number
  shards: number
  start_at: Date
  end_at: Date
  require_token: number | boolean
  warmed_at: Date | null
}

function toEvent (row: EventRow): SaleEvent {
  return {
    id: Number(row.id),
    productId: Number(row.product_id),
    title: row.title,
    priceCents: row.price_cents,
    stock: row.stock,
    sold: row.sold,
    shards: row.shards,
    startAt: row.start_at,
    endAt: row.end_at,
    requireToken: Boolean(row.require_token),
    warmedAt: row.warmed_at
  }
}

const COLUMNS = ['id', 'product_id', 'title', 'price_cents', 'stock', 'sold', 'shards', 'start_at', 'end_at', 'require_token', 'warmed_at']

/** Columns of an event's fields, for inserts and updates. */
function columnsOf (e: EventChanges): Record<string, unknown> {
  const row: Record<string, unknown> = {}
  if (e.productId !== undefined) row.product_id = e.productId
  if (e.title !== undefined) row.title = e.title
  if (e.priceCents !== undefined) row.price_cents = e.priceCents
  if (e.stock !== undefined) row.stock = e.stock
  if (e.shards !== undefined) row.shards = e.shards
  if (e.startAt !== undefined) row.start_at = e.startAt
  if (e.endAt !== undefined) row.end_at = e.endAt
  if (e.requireToken !== undefined) row.require_token = e.requireToken
  return row
}

export function eventsRepository (db: Db) {
  return {
    async insert (e: NewEvent, trx?: Knex.Transaction): Promise<number> {
      const [id] = await (trx ?? db)('seckill_events').insert(columnsOf(e))
      return Number(id)
    },

    async findById (id: number, trx?: Knex.Transaction): Promise<SaleEvent | undefined> {
      const row: EventRow | undefined = await (trx ?? db)('seckill_events').first(COLUMNS).where({ id })
      return row === undefined ? undefined : toEvent(row)
    },

    /**
     * Changes an event that has not started (and starts no sooner than `notBefore`); false when
     * there is no such upcoming event. The start is checked in the same statement (no race).
     */
    async updateUpcoming (id: number, changes: EventChanges, notBefore: Date): Promise<boolean> {
      const row = { ...columnsOf(changes), updated_at: db.raw('CURRENT_TIMESTAMP(3)') }
      return (await db('seckill_events').where({ id }).andWhere('start_at', '>', notBefore).update(row)) === 1
    },

    /** Deletes an event that has not started; false when there is no such upcoming event. */
    async deleteUpcoming (id: number, notBefore: Date): Promise<boolean> {
      return (await db('seckill_events').where({ id }).andWhere('start_at', '>', notBefore).delete()) === 1
    },

    async list (status: 'upcoming' | 'active' | 'ended' | undefined, now: Date, p: PageRequest<EventSortField>): Promise<{ items: SaleEvent[], total: number }> {
      const filtered = (q: Knex.QueryBuilder): Knex.QueryBuilder => {
        if (status === 'upcoming') q.where('start_at', '>', now)
        if (status === 'active') q.where('start_at', '<=', now).andWhere('end_at', '>', now)
        if (status === 'ended') q.where('end_at', '<=', now)
        return q
      }
      const [rows, count] = await Promise.all([
        filtered(db('seckill_events').select(COLUMNS)).orderBy(p.sort.field, p.sort.direction).orderBy('id', p.sort.direction)
          .limit(p.pageSize).offset((p.page - 1) * p.pageSize) as Promise<EventRow[]>,
        filtered(db('seckill_events').count({ n: '*' })).first() as Promise<{ n: number | string } | undefined>
      ])
      return { items: rows.map(toEvent), total: Number(count?.n ?? 0) }
    },

    /** Ticket ids of the event's orders, whether each still holds a unit (pending or paid), and the shard it came from. */
    async orderTickets (id: number): Promise<Array<{ ticketId: string, live: boolean, unitShard: number | null }>> {
      const rows = await db('orders').select('ticket_id', 'status', 'unit_shard').where({ event_id: id }) as Array<{ ticket_id: string, status: string, unit_shard: number | null }>
      return rows.map((r) => ({ ticketId: r.ticket_id, live: (LIVE_ORDER_STATUSES as readonly string[]).includes(r.status), unitShard: r.unit_shard }))
    },

    /** Records units that surviving shards hold for tickets Redis lost (they come back to the sale). */
    async recordLostUnits (eventId: number, units: ReadonlyArray<{ shard: number, ticketId: string }>): Promise<void> {
      await db.transaction(async (trx) => {
        await recordReturns(trx, eventId, units.map((u) => ({ ...u, reason: 'lost_in_redis' as const })))
      })
    },

    /** Raises a shard's fencing number (a rebuild fences out the owner of the lost state). */
    async raiseFence (ref: ShardRef): Promise<number> {
      return await raiseFence(db, ref)
    },

    /** Banned buyers, refused by the admission script of every shard. */
    async bannedUsers (): Promise<string[]> {
      return await bannedUserIds(db)
    },

    /** Records that the event's sale state went into Redis (the first time only). */
    async markWarmed (id: number): Promise<void> {
      await db('seckill_events').where({ id }).whereNull('warmed_at').update({ warmed_at: db.raw('CURRENT_TIMESTAMP(3)') })
    },

    /** Events whose sale is on, or starts within `horizonMs`, or ended less than `graceMs` ago. */
    async listLive (now: Date, horizonMs: number, graceMs: number): Promise<SaleEvent[]> {
      const rows: EventRow[] = await db('seckill_events')
        .select(COLUMNS)
        .where('end_at', '>', new Date(now.getTime() - graceMs))
        .andWhere('start_at', '<=', new Date(now.getTime() + horizonMs))
        .orderBy('id')
      return rows.map(toEvent)
    }
  }
}
export type EventsRepository = ReturnType<typeof eventsRepository>

/** Checks a new event's fields; every problem is reported as a 400 with a clear message. */
/** Sale times outside this range are typos or probes (MySQL's DATETIME would store them wrong). */
const EARLIEST = Date.UTC(2000, 0, 1)
const LATEST = Date.UTC(2100, 0, 1)

export function validateNewEvent (e: NewEvent, now: Date): void {
  for (const [name, at] of [['start_at', e.startAt], ['end_at', e.endAt]] as const) {
    const t = at.getTime()
    if (!Number.isFinite(t) || t < EARLIEST || t >= LATEST) throw badRequest(`${name} must be between 2000-01-01 and 2100-01-01`)
  }
  if (!(e.startAt.getTime() < e.endAt.getTime())) throw badRequest('end_at must be after start_at')
  if (e.endAt.getTime() <= now.getTime()) throw badRequest('end_at must be in the future')
  if (e.shards > e.stock) throw badRequest('shards must not exceed stock')
}

export function windowStatus (e: SaleEvent, now: number): 'upcoming' | 'active' | 'ended' {
  if (now < e.startAt.getTime()) return 'upcoming'
  if (now >= e.endAt.getTime()) return 'ended'
  return 'active'
}

/** Units of each shard when `units` are split over `shards` (the first shards take the remainder). */
export function splitStock (units: number, shards: number): number[] {
  const base = Math.floor(units / shards)
  const extra = units % shards
  return Array.from({ length: shards }, (_, i) => base + (i < extra ? 1 : 0))
}
