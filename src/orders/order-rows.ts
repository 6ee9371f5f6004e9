/**
 * The order rows a drain batch inserts, and the ids MySQL gives them: what the single write
 * (order-write.ts) and the joint one (joint-write.ts) share, with the shapes both hand back.
 *
 * The insert is the drain's hottest statement, so it is written here rather than by knex. It must
 * never let a value reach MySQL unchecked: every value is a number, or an id checked against its
 * pattern (digits and dashes), or one deadline formatted here; a value that fails its check throws.
 */
import type { Knex } from 'knex'
import { TICKET_ID_PATTERN, USER_ID_PATTERN } from '../shared/ticket-ids'

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
  /** The reasons the write itself gives (a subset of the sale's FailReason). */
  | { readonly kind: 'failed', readonly reason: 'already_ordered' | 'stock_mismatch' | 'event_gone' }

export interface OrderWriteSettings {
  /** Each order must be paid within this time. */
  readonly paymentTimeoutMs: number
  /** A multi-row insert gets consecutive ids, in row order (see probeConsecutiveIds). */
  readonly consecutiveIds: boolean
}

/** The shard a batch drains and the fencing number its owner took the lease with. */
export interface WriteFence {
  readonly shard: number
  readonly fence: number
}

/** Whether this MySQL gives a multi-row insert consecutive auto-increment ids. */
export async function probeConsecutiveIds (db: Knex): Promise<boolean> {
  const [rows] = await db.raw('SELECT @@innodb_autoinc_lock_mode AS mode, @@auto_increment_increment AS step') as [Array<{ mode: number | string, step: number | string }>]
  const row = rows[0]
  return row !== undefined && Number(row.mode) <= 1 && Number(row.step) === 1
}

/** MySQL's error code for an insert that hits a unique key (the statement alone is undone). */
export const DUPLICATE_KEY = 'ER_DUP_ENTRY'

const TICKET_ID = new RegExp(TICKET_ID_PATTERN)
const USER_ID = new RegExp(USER_ID_PATTERN)

/** A shard's winners to insert as orders, at the event's price, each due for payment by `expiresAt`. */
interface OrderRows {
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
export function insertOrdersSql (parts: readonly OrderRows[]): string {
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

/** A number as SQL text; throws unless it is a safe integer. */
export function int (n: number): string {
  if (!Number.isSafeInteger(n)) throw new Error(`order row refused: ${String(n)} is not an integer`)
  return String(n)
}

/** Order ids of the given tickets that have an order, whatever its status (ticket id -> order id). */
export async function existingOrders (db: Knex, ticketIds: readonly string[]): Promise<Map<string, string>> {
  const rows = await db('orders').select('id', 'ticket_id').whereIn('ticket_id', ticketIds) as Array<{ id: number | string, ticket_id: string }>
  return new Map(rows.map((r) => [r.ticket_id, String(r.id)]))
}

/** Order rows found by ticket id (in the writing transaction). */
type LookUpOrders = (ticketIds: string[]) => Promise<Array<{ id: number | string, ticket_id: string }>>

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
