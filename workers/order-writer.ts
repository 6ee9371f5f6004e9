/**
 * The drain's MySQL write: one transaction per batch that inserts the winners' orders and bumps
 * `seckill_events.sold` under the guard `sold + n <= stock`.
 *
 * It is the drain's slowest stage, so it does the least a batch needs. The common case -- new
 * tickets, no buyer with an order already -- is one locking read, one multi-row insert and one
 * update. A replayed batch or a buyer who somehow holds two tickets makes the insert hit a unique
 * key; the statement is undone and the batch takes the careful path, which looks up existing
 * orders first. The new orders' ids come from the insert itself when MySQL hands out consecutive
 * auto-increment values for it (innodb_autoinc_lock_mode 0 or 1, increment 1: checked once per
 * connection pool), else from a look-up by ticket id.
 */
import type { Knex } from 'knex'
import { TICKET_ID_PATTERN, USER_ID_PATTERN } from '../src/domain/tickets'
import type { FailReason } from '../src/domain/tickets'
import { recordReturns } from '../src/domain/unit-returns'

export interface Winner {
  readonly qpos: number
  readonly userId: string
  readonly ticketId: string
  /** The shard whose stock holds the winner's unit (the ticket's own, or a sibling it borrowed from). */
  readonly unitShard: number
  /** The unit was reserved by this run of the batch, not found from an earlier run. */
  readonly freshUnit: boolean
}

export type WriteResult =
  /** `existing`: the ticket's order was written before (a replayed batch), its unit held in shard `heldAt`. */
  | { readonly kind: 'won', readonly orderId: string, readonly existing?: true, readonly heldAt?: number }
  | { readonly kind: 'failed', readonly reason: FailReason }

export interface OrderWriteSettings {
  /** Each order must be paid within this time. */
  readonly paymentTimeoutMs: number
  /** A multi-row insert gets consecutive ids, in row order (see probeConsecutiveIds). */
  readonly consecutiveIds: boolean
}

/** Whether this MySQL gives a multi-row insert consecutive auto-increment ids. */
export async function probeConsecutiveIds (db: Knex): Promise<boolean> {
  const [rows] = await db.raw('SELECT @@innodb_autoinc_lock_mode AS mode, @@auto_increment_increment AS step') as [Array<{ mode: number | string, step: number | string }>]
  const row = rows[0]
  return row !== undefined && Number(row.mode) <= 1 && Number(row.step) === 1
}

export interface LockedEvent {
  readonly stock: number
  readonly sold: number
  readonly price_cents: number
  /** The shard's fencing number now (null: never taken). */
  readonly fence: number | string | null
  /** MySQL's clock, for the payment deadlines. */
  readonly now: Date
}

/**
 * The batch's one locking read: the event row (for `sold`) and the shard's fencing number, both
 * locked until the write commits (a takeover's raise waits for it, or this write sees the raise
 * and writes nothing), with MySQL's clock. One statement, not three: the write is the drain's
 * slowest stage, and it runs once per batch (measured: bench:drain, write stage per 1,000 orders).
 */
export async function lockEvent (trx: Knex.Transaction, eventId: number, fence: WriteFence): Promise<LockedEvent | undefined> {
  const [rows] = await trx.raw(LOCK_EVENT_SQL, [fence.shard, eventId]) as [LockedEvent[]]
  return rows[0]
}

/** The locking read; its arguments are the shard and the event id. */
const LOCK_EVENT_SQL = 'SELECT e.stock, e.sold, e.price_cents, f.fence, CURRENT_TIMESTAMP(3) AS now FROM seckill_events e ' +
  'LEFT JOIN shard_fences f ON f.event_id = e.id AND f.shard = ? WHERE e.id = ? FOR UPDATE'

/** MySQL's error code for an insert that hits a unique key (the statement alone is undone). */
export const DUPLICATE_KEY = 'ER_DUP_ENTRY'

const TICKET_ID = new RegExp(TICKET_ID_PATTERN)
const USER_ID = new RegExp(USER_ID_PATTERN)

/** A shard's winners to insert as orders, at the event's price, each due for payment by `expiresAt`. */
export interface OrderRows {
  readonly eventId: number
  readonly shard: number
  readonly winners: readonly Winner[]
  readonly priceCents: number
  readonly expiresAt: Date
}

/**
 * Inserts every part's winners as orders in one statement, in order; resolves to the first new id
 * (MySQL's LAST_INSERT_ID for a multi-row insert). The statement is written here rather than by
 * knex: building a 1,000-row insert through knex and mysql2's escaping took 1.3-1.7 ms of a drain
 * thread, this 0.25 ms (measured on this machine), about 3 % of the drain's CPU per order. Nothing
 * needs escaping: every value is a number, or an id checked against its pattern here (digits and
 * dashes), or the one deadline formatted once. A value that fails its check throws: it never
 * reaches MySQL.
 */
export async function insertOrders (trx: Knex.Transaction, parts: readonly OrderRows[]): Promise<number> {
  const [header] = await trx.raw(insertOrdersSql(parts)) as [{ insertId: number }]
  return header.insertId
}

/** The insert statement of insertOrders; throws on a value that fails its check. */
function insertOrdersSql (parts: readonly OrderRows[]): string {
  const values: string[] = []
  for (const p of parts) {
    const fixed = `${int(p.eventId)},`
    // MySQL DATETIME(3) in UTC, as the connection's time zone is ('Z', src/db/knex.ts).
    const tail = `,${int(p.priceCents)},'${p.expiresAt.toISOString().slice(0, 23).replace('T', ' ')}',`
    for (const w of p.winners) {
      if (!TICKET_ID.test(w.ticketId) || !USER_ID.test(w.userId)) throw new Error(`order row refused: ticket ${JSON.stringify(w.ticketId)}, user ${JSON.stringify(w.userId)}`)
      // Only a borrowed unit is named: null means the ticket's own shard.
      values.push(`('${w.ticketId}',${fixed}${w.userId}${tail}${w.unitShard === p.shard ? 'NULL' : int(w.unitShard)})`)
    }
  }
  return `INSERT INTO orders (ticket_id, event_id, user_id, price_cents, expires_at, unit_shard) VALUES ${values.join(',')}`
}

function int (n: number): string {
  if (!Number.isSafeInteger(n)) throw new Error(`order row refused: ${String(n)} is not an integer`)
  return String(n)
}

/** The shard a batch drains and the fencing number its owner took the lease with. */
export interface WriteFence {
  readonly shard: number
  readonly fence: number
}

/**
 * Writes a batch's orders; `lease_lost` (and nothing written) when the shard's fencing number has
 * moved past the batch's: another worker owns the shard now and decides these tickets.
 */
export async function writeOrders (db: Knex, eventId: number, winners: readonly Winner[], settings: OrderWriteSettings, fence: WriteFence): Promise<Map<number, WriteResult> | 'lease_lost'> {
  if (allowsMultipleStatements(db)) {
    const done = await writeOrdersAtOnce(db, eventId, winners, settings, fence)
    if (done !== undefined) return done
  }
  return await db.transaction(async (trx) => await writeOrdersIn(trx, eventId, winners, settings, fence))
}

/** A mysql2 connection of knex's pool, as its callback API has it. */
interface PooledConnection {
  query: (sql: string, values: unknown[], cb: (err: (Error & { code?: string }) | null, results: unknown) => void) => void
}

function allowsMultipleStatements (db: Knex): boolean {
  const connection = (db.client as { config?: { connection?: { multipleStatements?: boolean } } }).config?.connection
  return connection?.multipleStatements === true
}

async function query (conn: PooledConnection, sql: string, values: unknown[] = []): Promise<unknown> {
  return await new Promise((resolve, reject) => {
    conn.query(sql, values, (err, results) => { if (err !== null) reject(err); else resolve(results) })
  })
}

/**
 * The common case of writeOrdersIn -- the caller still owns the shard, MySQL has room for every
 * winner, none of them has an order -- in three round trips instead of five: `BEGIN` with the
 * locking read, the insert with the guarded update of `sold`, and `COMMIT`. Anything else is
 * rolled back having written nothing, and resolves to undefined: the caller writes the batch the
 * careful way (writeOrdersIn), which decides every case exactly as before.
 *
 * The write is the drain's slowest stage and batches pass through it one after the other, so its
 * round trips set the drain's pace. Measured in bench:drain, two runs each, alternating: the write
 * stage per 1,000-ticket batch went from 17.0-17.8 / 10.8-11.5 / 10.9-11.9 ms (rounds 1 / 2 / 3)
 * to 13.8-14.3 / 10.5-11.7 / 9.8 ms (bench/RESULTS.md, "Three round trips per order write").
 * Needs a connection that runs several statements a query (createDb's `multipleStatements`, the
 * drain threads' only); without it every batch is written the careful way.
 */
async function writeOrdersAtOnce (db: Knex, eventId: number, winners: readonly Winner[], settings: OrderWriteSettings, fence: WriteFence): Promise<Map<number, WriteResult> | undefined> {
  if (winners.length === 0) return undefined
  const conn = await db.client.acquireConnection() as PooledConnection
  // Until COMMIT has answered: anything else leaves with a ROLLBACK.
  let open = true
  try {
    const [, rows] = await query(conn, `BEGIN; ${LOCK_EVENT_SQL}`, [fence.shard, eventId]) as [unknown, LockedEvent[]]
    const event = rows[0]
    if (event === undefined || event.fence === null || Number(event.fence) !== fence.fence || event.stock - event.sold < winners.length) return undefined
    const n = winners.length
    const expiresAt = new Date(event.now.getTime() + settings.paymentTimeoutMs)
    let results: unknown
    try {
      results = await query(conn, `${insertOrdersSql([{ eventId, shard: fence.shard, winners, priceCents: event.price_cents, expiresAt }])}; ` +
        `UPDATE seckill_events SET sold = sold + ${int(n)} WHERE id = ${int(eventId)} AND sold + ${int(n)} <= stock`)
    } catch (err) {
      // A buyer with an order already, or a replay: rolled back below, written the careful way.
      if ((err as { code?: string }).code === DUPLICATE_KEY) return undefined
      throw err
    }
    const [inserted, bumped] = results as [{ insertId: number }, { affectedRows: number }]
    // The row is locked and had room: a refusal here means something else changed it.
    if (bumped.affectedRows !== 1) throw new Error(`event ${eventId}: sold guard refused ${n} orders`)
    const ids = await newOrderIds(winners, inserted.insertId, settings,
      async (ticketIds) => await query(conn, 'SELECT id, ticket_id FROM orders WHERE ticket_id IN (?)', [ticketIds]) as Array<{ id: number | string, ticket_id: string }>)
    const out = new Map<number, WriteResult>(winners.map((w) => [w.qpos, { kind: 'won', orderId: ids.get(w.ticketId) as string }]))
    await query(conn, 'COMMIT')
    open = false
    return out
  } finally {
    // Anything but a commit: nothing stays written. A connection that failed is dropped by the
    // pool when it is next acquired (knex validates it).
    if (open) await query(conn, 'ROLLBACK').catch(() => undefined)
    await db.client.releaseConnection(conn)
  }
}

/**
 * The same inside a transaction the caller owns, which may write other shards' batches too (one
 * commit for several shards' winners). A `lease_lost` part writes nothing and the others go on.
 */
export async function writeOrdersIn (trx: Knex.Transaction, eventId: number, winners: readonly Winner[], settings: OrderWriteSettings, fence: WriteFence): Promise<Map<number, WriteResult> | 'lease_lost'> {
  const out = new Map<number, WriteResult>()
  const event = await lockEvent(trx, eventId, fence)
  if (event === undefined) {
    for (const w of winners) out.set(w.qpos, { kind: 'failed', reason: 'event_gone' })
    return out
  }
  if (event.fence === null || Number(event.fence) !== fence.fence) return 'lease_lost' as const
  const careful = async (): Promise<Winner[]> => {
    out.clear()
    const existing = await trx('orders').select('id', 'ticket_id', 'user_id', 'unit_shard')
      .where({ event_id: eventId })
      .whereIn('user_id', winners.map((w) => w.userId)) as Array<{ id: number | string, ticket_id: string, user_id: number | string, unit_shard: number | null }>
    return withinRoom(winners, event, new Map(existing.map((o) => [String(o.user_id), { ...o, heldAt: o.unit_shard ?? fence.shard }])), out)
  }
  let fresh = withinRoom(winners, event, new Map(), out)
  // Winners past the room MySQL has may be a replayed batch's, whose orders are written already
  // (and counted in `sold`): look before refusing them.
  const looked = fresh.length < winners.length
  if (looked) fresh = await careful()
  try {
    await insert(trx, eventId, fence.shard, fresh, event, settings, out)
  } catch (err) {
    if ((err as { code?: string }).code !== DUPLICATE_KEY || looked) throw err
    // The failed statement was undone and the transaction goes on: the careful path.
    fresh = await careful()
    await insert(trx, eventId, fence.shard, fresh, event, settings, out)
  }
  // Units that go back to the sale, recorded with this transaction; the shard holding each
  // applies it between its batches.
  await recordReturns(trx, eventId, winners.flatMap((w) => {
    const r = out.get(w.qpos)
    return r !== undefined && unitGoesBack(r, { shard: w.unitShard, fresh: w.freshUnit })
      ? [{ shard: w.unitShard, ticketId: w.ticketId, reason: r.kind === 'won' ? 'replayed' as const : 'already_ordered' as const }]
      : []
  }))
  return out
}

/**
 * Whether a winner's unit goes back to the sale after the write: its buyer holds another order
 * (`already_ordered`), or the batch is a replay whose ticket's order was written before and the
 * unit it holds is not that order's -- reserved anew by this run, or held in another shard than
 * the order's (an earlier run that a takeover cut short reserved it there after the order was
 * written with a unit borrowed elsewhere; simulation seed 30598). The order's own unit is accounted
 * for where it was first held (marked held again by a rebuild while the order is live, or returned
 * when it ended), so the other one is extra: kept, it would be held forever by a decided ticket.
 */
export function unitGoesBack (r: WriteResult, unit: { readonly shard: number, readonly fresh: boolean }): boolean {
  return r.kind === 'won' ? r.existing === true && (unit.fresh || r.heldAt !== unit.shard) : r.reason === 'already_ordered'
}

/** Order ids of the given tickets that have an order, whatever its status (ticket id -> order id). */
export async function existingOrders (db: Knex, ticketIds: readonly string[]): Promise<Map<string, string>> {
  const rows = await db('orders').select('id', 'ticket_id').whereIn('ticket_id', ticketIds) as Array<{ id: number | string, ticket_id: string }>
  return new Map(rows.map((r) => [r.ticket_id, String(r.id)]))
}

/**
 * The winners to insert, in FIFO order, up to the room MySQL has; records the others' results:
 * the order a buyer already has, or `stock_mismatch` past the room.
 */
function withinRoom (winners: readonly Winner[], event: LockedEvent, byUser: Map<string, { id: number | string, ticket_id: string, heldAt: number }>, out: Map<number, WriteResult>): Winner[] {
  const fresh: Winner[] = []
  let room = event.stock - event.sold
  for (const w of winners) {
    const prior = byUser.get(w.userId)
    if (prior !== undefined) {
      out.set(w.qpos, prior.ticket_id === w.ticketId
        ? { kind: 'won', orderId: String(prior.id), existing: true, heldAt: prior.heldAt }
        : { kind: 'failed', reason: 'already_ordered' })
    } else if (room > 0) {
      fresh.push(w)
      room--
    } else {
      // Redis held more units than MySQL has: keep the unit out of the sale, the reconciler
      // corrects Redis. Never oversell.
      out.set(w.qpos, { kind: 'failed', reason: 'stock_mismatch' })
    }
  }
  return fresh
}

/** Order rows found by ticket id (in the writing transaction). */
export type LookUpOrders = (ticketIds: string[]) => Promise<Array<{ id: number | string, ticket_id: string }>>

/**
 * The ids of the orders just inserted for `winners` (in the insert's row order), ticket id ->
 * order id: counted on from the insert's first id when MySQL hands out consecutive ones
 * (probeConsecutiveIds), else looked up. Throws if an order is missing.
 */
export async function newOrderIds (winners: readonly Winner[], firstId: number | undefined, settings: OrderWriteSettings, lookUp: LookUpOrders): Promise<Map<string, string>> {
  const ids = new Map<string, string>()
  if (settings.consecutiveIds && typeof firstId === 'number' && firstId > 0) {
    winners.forEach((w, i) => ids.set(w.ticketId, String(firstId + i)))
    return ids
  }
  for (const r of await lookUp(winners.map((w) => w.ticketId))) ids.set(r.ticket_id, String(r.id))
  for (const w of winners) if (!ids.has(w.ticketId)) throw new Error(`order for ${w.ticketId} vanished inside its transaction`)
  return ids
}

/** newOrderIds' look-up inside a knex transaction. */
export function lookUpIn (trx: Knex.Transaction): LookUpOrders {
  return async (ticketIds) => await trx('orders').select('id', 'ticket_id').whereIn('ticket_id', ticketIds) as Array<{ id: number | string, ticket_id: string }>
}

async function insert (trx: Knex.Transaction, eventId: number, shard: number, fresh: readonly Winner[], event: LockedEvent, settings: OrderWriteSettings, out: Map<number, WriteResult>): Promise<void> {
  if (fresh.length === 0) return
  // One value for the batch, from MySQL's clock read with the lock (not an expression per row).
  const expiresAt = new Date(event.now.getTime() + settings.paymentTimeoutMs)
  const firstId = await insertOrders(trx, [{ eventId, shard, winners: fresh, priceCents: event.price_cents, expiresAt }])
  const bumped = await trx('seckill_events')
    .where({ id: eventId })
    .andWhereRaw('sold + ? <= stock', [fresh.length])
    .increment('sold', fresh.length)
  if (bumped !== 1) throw new Error(`event ${eventId}: sold guard refused ${fresh.length} orders`)
  const ids = await newOrderIds(fresh, firstId, settings, lookUpIn(trx))
  for (const w of fresh) out.set(w.qpos, { kind: 'won', orderId: ids.get(w.ticketId) as string })
}
