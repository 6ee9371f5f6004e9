/**
 * The drain's MySQL write: one transaction per batch that inserts the winners' orders and bumps
 * `seckill_events.sold` under the guard `sold + n <= stock`, fenced by the shard's fencing number.
 *
 * It is the drain's slowest stage, so it does the least a batch needs. The common case -- new
 * tickets, no buyer with an order already -- is one locking read, one multi-row insert and one
 * update. A replayed batch or a buyer who somehow holds two tickets makes the insert hit a unique
 * key; the statement is undone and the batch takes the careful path, which looks up existing
 * orders first. The new orders' ids come from the insert itself when MySQL hands out consecutive
 * auto-increment values for it (innodb_autoinc_lock_mode 0 or 1, increment 1: checked once per
 * connection pool), else from a look-up by ticket id (order-rows.ts).
 *
 * It must never write past the room MySQL has (`sold + n <= stock`), never write a batch whose
 * fencing number is no longer the shard's (checked in the locking read, inside the transaction),
 * and never write a ticket's order twice.
 */
import type { Knex } from 'knex'
import { recordReturns } from '../stock'
import { paymentDeadline } from './payment-deadline'
import { DUPLICATE_KEY, insertOrders, insertOrdersSql, int, lookUpIn, newOrderIds } from './order-rows'
import type { OrderWriteSettings, Winner, WriteFence, WriteResult } from './order-rows'

interface LockedEvent {
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
    const expiresAt = paymentDeadline(event.now, settings.paymentTimeoutMs)
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

async function insert (trx: Knex.Transaction, eventId: number, shard: number, fresh: readonly Winner[], event: LockedEvent, settings: OrderWriteSettings, out: Map<number, WriteResult>): Promise<void> {
  if (fresh.length === 0) return
  // One value for the batch, from MySQL's clock read with the lock (not an expression per row).
  const expiresAt = paymentDeadline(event.now, settings.paymentTimeoutMs)
  const firstId = await insertOrders(trx, [{ eventId, shard, winners: fresh, priceCents: event.price_cents, expiresAt }])
  const bumped = await trx('seckill_events')
    .where({ id: eventId })
    .andWhereRaw('sold + ? <= stock', [fresh.length])
    .increment('sold', fresh.length)
  if (bumped !== 1) throw new Error(`event ${eventId}: sold guard refused ${fresh.length} orders`)
  const ids = await newOrderIds(fresh, firstId, settings, lookUpIn(trx))
  for (const w of fresh) out.set(w.qpos, { kind: 'won', orderId: ids.get(w.ticketId) as string })
}
