/**
 * Sale events: the repository over `seckill_events` and the rules of an event's window.
 */
import type { Knex } from 'knex'
import type { Db } from '../db/knex'
import { badRequest } from './errors'

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
}

export type EventStatus = 'upcoming' | 'active' | 'sold_out' | 'ended'

export interface NewEvent {
  readonly productId: number
  readonly title: string
  readonly priceCents: number
  readonly stock: number
  readonly shards: number
  readonly startAt: Date
  readonly endAt: Date
}

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
    endAt: row.end_at
  }
}

const COLUMNS = ['id', 'product_id', 'title', 'price_cents', 'stock', 'sold', 'shards', 'start_at', 'end_at']

export function eventsRepository (db: Db) {
  return {
    async insert (e: NewEvent, trx?: Knex.Transaction): Promise<number> {
      const [id] = await (trx ?? db)('seckill_events').insert({
        product_id: e.productId,
        title: e.title,
        price_cents: e.priceCents,
        stock: e.stock,
        shards: e.shards,
        start_at: e.startAt,
        end_at: e.endAt
      })
      return Number(id)
    },

    async findById (id: number, trx?: Knex.Transaction): Promise<SaleEvent | undefined> {
      const row: EventRow | undefined = await (trx ?? db)('seckill_events').first(COLUMNS).where({ id })
      return row === undefined ? undefined : toEvent(row)
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
export function validateNewEvent (e: NewEvent, now: Date): void {
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
