/**
 * Sale events: the repository over `seckill_events` and the rules of an event's window.
 */
import { createHash, randomBytes } from 'node:crypto'
import { raiseFence } from '../db/shard-fences'
import { recordReturns } from '../stock'
import type { ShardRef } from '../redis/keys'
import type { Knex } from 'knex'
import type { SaleEvent } from '../shared/sale-event'
import { DEFAULT_LEAD_MS, MAX_LEAD_MS, MIN_LEAD_MS, allocationModeOf, entryModeOf } from '../shared/allocation'
import type { Db } from '../db/knex'
import { badRequest } from '../shared/errors'
import type { PageRequest } from '../shared/page'
import { LIVE_ORDER_STATUSES } from '../shared/order-statuses'
import { bannedUserIds } from '../identity'
import { withAudit } from '../shared/admin-trail'
import type { AuditInTransaction } from '../shared/admin-trail'

export type { EventStatus } from '../shapes/api'

/** What the operator gives to create a sale: the sale event's own fields, less what the sale writes. */
export type NewEvent = Pick<SaleEvent, 'productId' | 'title' | 'description' | 'priceCents' | 'stock' | 'shards' | 'startAt' | 'endAt' | 'requireToken'
| 'requireVerifiedEmail' | 'mode' | 'entry' | 'waitlist' | 'leadMs' | 'powMaxNumber'>

export type EventChanges = Partial<NewEvent>

export type EventSortField = 'id' | 'start_at' | 'end_at'

export const MAX_SHARDS = 64
export const MAX_STOCK = 10_000_000

interface EventRow {
  id: number | string
  product_id: number | string
  title: string
  description: string | null
  price_cents: number
  stock: number
  sold: number
  shards: number
  start_at: Date
  end_at: Date
  require_token: number | boolean
  require_verified_email: number | boolean
  allocation_mode: string
  entry_mode: string
  waitlist: number | boolean
  lead_ms: number | null
  start_commitment: string | null
  pow_max_number: number | null
  warmed_at: Date | null
  paused_at: Date | null
  line_message: string | null
  line_message_at: Date | null
}

function toEvent (row: EventRow): SaleEvent {
  return {
    id: Number(row.id),
    productId: Number(row.product_id),
    title: row.title,
    description: row.description,
    priceCents: row.price_cents,
    stock: row.stock,
    sold: row.sold,
    shards: row.shards,
    startAt: row.start_at,
    endAt: row.end_at,
    requireToken: Boolean(row.require_token),
    requireVerifiedEmail: Boolean(row.require_verified_email),
    mode: allocationModeOf(row.allocation_mode),
    entry: entryModeOf(row.entry_mode),
    waitlist: Boolean(row.waitlist),
    ...(row.lead_ms !== null ? { leadMs: row.lead_ms } : {}),
    startCommitment: row.start_commitment,
    powMaxNumber: row.pow_max_number,
    warmedAt: row.warmed_at,
    pausedAt: row.paused_at,
    lineMessage: row.line_message,
    lineMessageAt: row.line_message_at
  }
}

const COLUMNS = ['id', 'product_id', 'title', 'description', 'price_cents', 'stock', 'sold', 'shards', 'start_at', 'end_at', 'require_token', 'require_verified_email', 'allocation_mode', 'entry_mode', 'waitlist', 'lead_ms', 'start_commitment', 'pow_max_number', 'warmed_at', 'paused_at', 'line_message', 'line_message_at']

/** Columns of an event's fields, for inserts and updates. */
function columnsOf (e: EventChanges): Record<string, unknown> {
  const row: Record<string, unknown> = {}
  if (e.productId !== undefined) row.product_id = e.productId
  if (e.title !== undefined) row.title = e.title
  if (e.description !== undefined) row.description = e.description
  if (e.priceCents !== undefined) row.price_cents = e.priceCents
  if (e.stock !== undefined) row.stock = e.stock
  if (e.shards !== undefined) row.shards = e.shards
  if (e.startAt !== undefined) row.start_at = e.startAt
  if (e.endAt !== undefined) row.end_at = e.endAt
  if (e.requireToken !== undefined) row.require_token = e.requireToken
  if (e.requireVerifiedEmail !== undefined) row.require_verified_email = e.requireVerifiedEmail
  if (e.mode !== undefined) row.allocation_mode = e.mode
  if (e.entry !== undefined) row.entry_mode = e.entry
  if (e.waitlist !== undefined) row.waitlist = e.waitlist
  if (e.leadMs !== undefined) row.lead_ms = e.leadMs
  if (e.powMaxNumber !== undefined) row.pow_max_number = e.powMaxNumber
  return row
}

/**
 * A randomized start's seed, made once per sale when it first becomes random_at_start (before
 * its lead window can open: edits stop before it), kept in its row beside the published
 * commitment. Only the sale's placement and, once it is done, the public draw read it.
 */
function seedColumns (db: Db, e: EventChanges, insert: boolean): Record<string, unknown> {
  if (e.entry !== 'random_at_start') return {}
  const seed = randomBytes(32)
  const hex = seed.toString('hex')
  const commitment = createHash('sha256').update(seed).digest('hex')
  // An edit keeps a seed the sale has (its commitment may have been seen already).
  if (insert) return { start_seed: hex, start_commitment: commitment }
  return { start_seed: db.raw('COALESCE(start_seed, ?)', [hex]), start_commitment: db.raw('COALESCE(start_commitment, ?)', [commitment]) }
}

/** One shard's placement of a randomized start, as recorded by its owner (`start_placements`). */
export interface StartPlacement {
  readonly shard: number
  /** Queue positions after this one went to the placed entries, in order. */
  readonly base: number
  /** Entry ids in placed order. */
  readonly order: readonly string[]
}

/** Entries per row of a recorded placement: about 3.5 MB of JSON, far under MySQL's 16 MB packet. */
export const PLACEMENT_PART = 100_000

/** `cutoff` microseconds after MySQL's now: edits are judged on one clock. */
const NOT_BEFORE_SQL = 'CURRENT_TIMESTAMP(3) + INTERVAL ? MICROSECOND'
function notBefore (db: Db, cutoffMs: number): Knex.Raw {
  return db.raw(NOT_BEFORE_SQL, [cutoffMs * 1000])
}

export function eventsRepository (db: Db) {
  /** True when the event starts more than `cutoffMs` from now, on MySQL's clock. */
  const startsAfter = async (id: number, cutoffMs: number): Promise<boolean> =>
    await db('seckill_events').first('id').where({ id }).andWhere('start_at', '>', notBefore(db, cutoffMs)) !== undefined
  return {
    async insert (e: NewEvent, trx?: Knex.Transaction, audit?: AuditInTransaction): Promise<number> {
      return await withAudit(db, trx, audit, async (q) => {
        const [id] = await q('seckill_events').insert({ ...columnsOf(e), ...seedColumns(db, e, true) })
        return Number(id)
      }, (id) => String(id))
    },

    async findById (id: number, trx?: Knex.Transaction): Promise<SaleEvent | undefined> {
      const row: EventRow | undefined = await (trx ?? db)('seckill_events').first(COLUMNS).where({ id })
      return row === undefined ? undefined : toEvent(row)
    },

    /** Several events' rows in one statement (the ingress refreshes every cached sale at once: src/sale/event-cache.ts). */
    async findByIds (ids: readonly number[]): Promise<Map<number, SaleEvent>> {
      if (ids.length === 0) return new Map()
      const rows: EventRow[] = await db('seckill_events').select(COLUMNS).whereIn('id', [...ids])
      return new Map(rows.map((r) => [Number(r.id), toEvent(r)]))
    },

    /**
     * Changes an event that starts more than `cutoffMs` from now, to a start that is too, both on
     * MySQL's clock and in the same statement (no race, and no process's clock): 'not_editable'
     * when the event starts sooner (or is gone), 'start_too_soon' when the new start would.
     */
    async updateUpcoming (id: number, changes: EventChanges, cutoffMs: number, audit?: AuditInTransaction): Promise<'updated' | 'not_editable' | 'start_too_soon'> {
      const row = { ...columnsOf(changes), ...seedColumns(db, changes, false), updated_at: db.raw('CURRENT_TIMESTAMP(3)') }
      const updated = await withAudit(db, undefined, audit, async (t) => {
        const q = t('seckill_events').where({ id }).andWhere('start_at', '>', notBefore(db, cutoffMs))
        if (changes.startAt !== undefined) q.andWhere(db.raw('? > ' + NOT_BEFORE_SQL, [changes.startAt, cutoffMs * 1000]))
        return await q.update(row) === 1
      }, (done) => done && String(id))
      if (updated) return 'updated'
      return await startsAfter(id, cutoffMs) ? 'start_too_soon' : 'not_editable'
    },

    /**
     * Holds or releases a sale that has not ended (MySQL's clock): the drains read `paused_at`
     * before each batch. 'not_live' for an event that ended (or is gone); pausing a paused sale or
     * resuming a running one changes nothing and says 'unchanged'.
     */
    async setPaused (id: number, paused: boolean, audit?: AuditInTransaction): Promise<'done' | 'unchanged' | 'not_live'> {
      const changed = await withAudit(db, undefined, audit, async (t) => {
        const q = t('seckill_events').where({ id }).andWhere('end_at', '>', db.raw('CURRENT_TIMESTAMP(3)'))
        if (paused) q.whereNull('paused_at')
        else q.whereNotNull('paused_at')
        return await q.update({ paused_at: paused ? db.raw('CURRENT_TIMESTAMP(3)') : null, updated_at: db.raw('CURRENT_TIMESTAMP(3)') }) === 1
      }, (done) => done && String(id))
      if (changed) return 'done'
      const live = await db('seckill_events').first('id').where({ id }).andWhere('end_at', '>', db.raw('CURRENT_TIMESTAMP(3)'))
      return live === undefined ? 'not_live' : 'unchanged'
    },

    /**
     * Sets the message to everyone in the sale's line (null clears it), stamped with MySQL's
     * clock, in one statement. False when there is no such event.
     */
    async setLineMessage (id: number, text: string | null, audit?: AuditInTransaction): Promise<boolean> {
      return await withAudit(db, undefined, audit, async (t) => await t('seckill_events').where({ id })
        .update({ line_message: text, line_message_at: text === null ? null : db.raw('CURRENT_TIMESTAMP(3)'), updated_at: db.raw('CURRENT_TIMESTAMP(3)') }) === 1,
      (done) => done && String(id))
    },

    /** Ends a sale that is on now (started, not ended; MySQL's clock): its end becomes now. False otherwise. */
    async endNow (id: number, audit?: AuditInTransaction): Promise<boolean> {
      return await withAudit(db, undefined, audit, async (t) => await t('seckill_events').where({ id })
        .andWhere('start_at', '<=', db.raw('CURRENT_TIMESTAMP(3)')).andWhere('end_at', '>', db.raw('CURRENT_TIMESTAMP(3)'))
        .update({ end_at: db.raw('CURRENT_TIMESTAMP(3)'), paused_at: null, updated_at: db.raw('CURRENT_TIMESTAMP(3)') }) === 1, (done) => done && String(id))
    },

    /**
     * Which of these sales an operator holds now, read from their rows in one statement (the
     * drain asks for every sale it drains at once: workers/drain/held-sales.ts). A hold ends with
     * the sale (MySQL's clock): the buyers in line still get their answer, and a sale that ended
     * while held cannot be resumed, so a hold past the end would keep them queued.
     */
    async heldAmong (ids: readonly number[]): Promise<Set<number>> {
      if (ids.length === 0) return new Set()
      const rows = await db('seckill_events').select('id').whereIn('id', [...ids])
        .whereNotNull('paused_at').andWhere('end_at', '>', db.raw('CURRENT_TIMESTAMP(3)')) as Array<{ id: number }>
      return new Set(rows.map((r) => Number(r.id)))
    },

    /** Deletes an event that starts more than `cutoffMs` from now (MySQL's clock); false otherwise. */
    async deleteUpcoming (id: number, cutoffMs: number, audit?: AuditInTransaction): Promise<boolean> {
      return await withAudit(db, undefined, audit, async (q) => (await q('seckill_events').where({ id }).andWhere('start_at', '>', notBefore(db, cutoffMs)).delete()) === 1,
        (done) => done && String(id))
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
    async orderTickets (id: number, trx?: Knex.Transaction): Promise<Array<{ ticketId: string, live: boolean, unitShard: number | null }>> {
      const rows = await (trx ?? db)('orders').select('ticket_id', 'status', 'unit_shard').where({ event_id: id }) as Array<{ ticket_id: string, status: string, unit_shard: number | null }>
      return rows.map((r) => ({ ticketId: r.ticket_id, live: (LIVE_ORDER_STATUSES as readonly string[]).includes(r.status), unitShard: r.unit_shard }))
    },

    /** Records units that surviving shards hold for tickets Redis lost (they come back to the sale). */
    async recordLostUnits (eventId: number, units: ReadonlyArray<{ shard: number, ticketId: string }>, trx?: Knex.Transaction): Promise<void> {
      const record = async (t: Knex.Transaction): Promise<void> => {
        await recordReturns(t, eventId, units.map((u) => ({ ...u, reason: 'lost_in_redis' as const })))
      }
      if (trx !== undefined) await record(trx)
      else await db.transaction(record)
    },

    /**
     * Runs `fn` under the event's row lock, with MySQL's clock read as the lock is taken: one
     * rebuild of an event at a time across every process, and no order write, cancel or expiry of
     * the event commits meanwhile (each of them updates the row's `sold`). The lock goes with the
     * transaction `fn` is given; `fn` writes nothing that must outlive a failed commit there.
     */
    async underRebuildLock<T> (id: number, fn: (trx: Knex.Transaction, nowMs: number) => Promise<T>): Promise<T> {
      return await db.transaction(async (trx) => {
        const [rows] = await trx.raw('SELECT CURRENT_TIMESTAMP(3) AS now FROM seckill_events WHERE id = ? FOR UPDATE', [id]) as [Array<{ now: Date }>]
        return await fn(trx, rows[0]?.now.getTime() ?? Date.now())
      })
    },

    /**
     * A new rebuild fence for the event, committed at once (never handed out twice, whatever
     * becomes of the rebuild that takes it).
     */
    async nextRebuildFence (id: number): Promise<number> {
      return await db.transaction(async (trx) => {
        await trx('seckill_events').where({ id }).increment('rebuild_fence', 1)
        const row = await trx('seckill_events').first('rebuild_fence').where({ id }) as { rebuild_fence: number | string } | undefined
        return Number(row?.rebuild_fence ?? 0)
      })
    },

    /** The current fencing number of each shard of the event that has one. */
    async shardFences (id: number, trx?: Knex.Transaction): Promise<Map<number, number>> {
      const rows = await (trx ?? db)('shard_fences').select('shard', 'fence').where({ event_id: id }) as Array<{ shard: number, fence: number | string }>
      return new Map(rows.map((r) => [Number(r.shard), Number(r.fence)]))
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
    async markWarmed (id: number, trx?: Knex.Transaction): Promise<void> {
      await (trx ?? db)('seckill_events').where({ id }).whereNull('warmed_at').update({ warmed_at: db.raw('CURRENT_TIMESTAMP(3)') })
    },

    /** Milliseconds until the event's start on MySQL's clock (0 or less: started); undefined when it is gone. */
    async msUntilStart (id: number): Promise<number | undefined> {
      const row = await db('seckill_events').first(db.raw('TIMESTAMPDIFF(MICROSECOND, CURRENT_TIMESTAMP(3), start_at) AS us')).where({ id }) as { us: number | string | null } | undefined
      return row === undefined ? undefined : Math.ceil(Number(row.us ?? 0) / 1000)
    },

    /** The randomized start's secret seed (the placement's; never answered to anyone before it). */
    async startSeed (id: number): Promise<string | undefined> {
      const row = await db('seckill_events').first('start_seed').where({ id }) as { start_seed: string | null } | undefined
      return row?.start_seed ?? undefined
    },

    /**
     * Records a shard's placement, once (a second record of the same placement, by an owner that
     * woke late, changes nothing: the order is a function of the seed and the sealed entries).
     */
    /**
     * Records a shard's placement once (a second call, by a late owner or after a crash, changes
     * nothing), in parts of PLACEMENT_PART entries written in one transaction, so a placement is
     * seen whole or not at all, and no row outgrows MySQL's packet (16 MB by default).
     */
    async recordPlacement (id: number, p: StartPlacement): Promise<void> {
      await db.transaction(async (trx) => {
        for (let part = 0; part === 0 || part * PLACEMENT_PART < p.order.length; part++) {
          const slice = p.order.slice(part * PLACEMENT_PART, (part + 1) * PLACEMENT_PART)
          await trx.raw('INSERT IGNORE INTO start_placements (event_id, shard, base, part, entries, placed) VALUES (?, ?, ?, ?, ?, ?)', [id, p.shard, p.base, part, JSON.stringify(slice), p.order.length])
        }
      })
    },

    /** Every placement recorded for the event (a shard rebuilt after Redis lost it may have two), its parts joined. */
    async placements (id: number): Promise<StartPlacement[]> {
      const rows = await db('start_placements').select('shard', 'base', 'entries').where({ event_id: id }).orderBy(['shard', 'base', 'part']) as Array<{ shard: number, base: number | string, entries: string }>
      const out: Array<{ shard: number, base: number, order: string[] }> = []
      for (const r of rows) {
        const last = out[out.length - 1]
        const order = JSON.parse(r.entries) as string[]
        if (last !== undefined && last.shard === Number(r.shard) && last.base === Number(r.base)) {
          for (const e of order) last.order.push(e)
        } else {
          out.push({ shard: Number(r.shard), base: Number(r.base), order })
        }
      }
      return out
    },

    /**
     * The seed once it may be shown: the start has passed on MySQL's clock and every shard has
     * recorded its placement. Undefined before.
     */
    async revealedSeed (id: number, shards: number): Promise<string | undefined> {
      const row = await db('seckill_events').first('start_seed', db.raw('start_at <= CURRENT_TIMESTAMP(3) AS started'),
        db.raw('(SELECT COUNT(DISTINCT shard) FROM start_placements p WHERE p.event_id = seckill_events.id) AS placed')).where({ id }) as { start_seed: string | null, started: number | string, placed: number | string } | undefined
      if (row === undefined || row.start_seed === null || Number(row.started) !== 1 || Number(row.placed) < shards) return undefined
      return row.start_seed
    },

    /**
     * Records the entries a shard's placement excluded (banned before it: their tickets were born
     * failed), once per (shard, base); the owner records them before the placement, so they are
     * there whenever the seed is shown.
     */
    async recordExclusions (id: number, p: { shard: number, base: number, excluded: readonly string[] }): Promise<void> {
      await db.raw('INSERT IGNORE INTO start_exclusions (event_id, shard, base, entries) VALUES (?, ?, ?, ?)', [id, p.shard, p.base, JSON.stringify(p.excluded)])
    },

    /** Every entry id the event's placements excluded (recordExclusions). */
    async exclusions (id: number): Promise<string[]> {
      const rows = await db('start_exclusions').select('entries').where({ event_id: id }).orderBy(['shard', 'base']) as Array<{ entries: string }>
      return rows.flatMap((r) => JSON.parse(r.entries) as string[])
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
  if (e.mode === 'draw') {
    // A draw ranks every entry of the sale together, and its runners-up wait on one waitlist
    // (src/sale/allocation/draw-sale.ts); withDrawDefaults fills entry and waitlist when left out.
    if (e.shards > 1) throw badRequest('mode draw has one shard (shards: 1): the draw ranks every entry of the sale together')
    if (e.entry !== 'random_at_start') throw badRequest('mode draw takes its entries before start_at: entry must be random_at_start (or left out)')
    if (e.waitlist !== true) throw badRequest('mode draw keeps its runners-up on the waitlist: waitlist must be true (or left out)')
    // Not combined yet: entries go through lua/admitRandomStart, which spends no proof.
    if (e.powMaxNumber !== null && e.powMaxNumber !== undefined) throw badRequest('proof_of_work does not combine with mode draw yet')
  }
  // A waitlist is kept per shard; across shards a sibling could borrow a returned unit before the
  // waitlist's first buyer gets it (src/sale/allocation/waitlist.ts).
  if (e.waitlist === true && e.shards > 1) throw badRequest('waitlist: a sale with a waitlist has one shard (shards: 1)')
  if (e.entry === 'random_at_start') {
    // Not combined yet (a draw is): the placed entrants who lose do join the waitlist in drawn
    // order (they hold positions in drawn order, and lua/includes/waitlist.lua keys them at
    // `position - 0.5`), but a buyer the gate turns away after the start would not join it
    // (lua/admitRandomStart keeps no waitlist). A draw admits nobody after the start.
    if (e.waitlist === true && e.mode !== 'draw') throw badRequest('entry random_at_start does not combine with waitlist yet (mode draw does)')
    if (e.mode !== undefined && e.mode !== 'first_come' && e.mode !== 'draw') throw badRequest('entry random_at_start needs mode first_come or draw')
    // Not combined yet: lead-window entries go through lua/admitRandomStart, which spends no proof.
    if (e.powMaxNumber !== null && e.powMaxNumber !== undefined) throw badRequest('proof_of_work does not combine with entry random_at_start yet')
  } else if (e.leadMs !== undefined) {
    throw badRequest('lead_ms is for entry random_at_start only')
  }
  if (e.leadMs !== undefined && (!Number.isSafeInteger(e.leadMs) || e.leadMs < MIN_LEAD_MS || e.leadMs > MAX_LEAD_MS)) {
    throw badRequest(`lead_ms must be an integer from ${MIN_LEAD_MS} to ${MAX_LEAD_MS} (24 h)`)
  }
}

/**
 * A draw's implied settings: entries before the start (random_at_start) and runners-up on the
 * waitlist, when the operator leaves them out (a value given is kept, and checked by
 * validateNewEvent). Anything else passes unchanged.
 */
export function withDrawDefaults<E extends EventChanges> (e: E): E {
  if (e.mode !== 'draw') return e
  return { ...e, entry: e.entry ?? 'random_at_start', waitlist: e.waitlist ?? true }
}

/** How long before the start a sale takes entries: its lead window for random_at_start, else 0. */
export function entryLeadMs (e: Pick<SaleEvent, 'entry' | 'leadMs'>): number {
  return e.entry === 'random_at_start' ? e.leadMs ?? DEFAULT_LEAD_MS : 0
}

export function windowStatus (e: SaleEvent, now: number): 'upcoming' | 'active' | 'ended' {
  if (now < e.startAt.getTime()) return 'upcoming'
  if (now >= e.endAt.getTime()) return 'ended'
  return 'active'
}
