/**
 * Several shards' batches written in one transaction with the statements of one: a locking read of
 * every event row and fencing number involved, one insert of every new order, one guarded update
 * of `sold` for every event, in place of those three per part. With many sales live a batch holds
 * a few tickets, and a joint write of thirty parts as thirty single writes took about 100 ms on
 * this machine under the many-drops crowd (bench:many, 50 sales, order_write per part).
 *
 * Only the common case goes this way: every part's owner still holds its fencing number and every
 * winner is a new order within the room MySQL has. Anything else -- a replay, a buyer with an
 * order already, Redis holding more units than MySQL, an insert that hits a unique key (the failed
 * statement is undone) -- writes the parts one by one in the same transaction (order-write.ts
 * writeOrdersIn), exactly as alone. A part whose fencing number moved writes nothing either way.
 * It must never decide a part otherwise than the single write would.
 */
import type { Knex } from 'knex'
import { DUPLICATE_KEY, insertOrders, lookUpIn, newOrderIds } from './order-rows'
import type { OrderWriteSettings, Winner, WriteFence, WriteResult } from './order-rows'
import { writeOrders, writeOrdersIn } from './order-write'
import { paymentDeadline } from './payment-deadline'

export interface JointPart {
  readonly eventId: number
  readonly winners: readonly Winner[]
  readonly fence: WriteFence
}

export type PartWritten = Map<number, WriteResult> | 'lease_lost'

interface LockedRow {
  readonly id: number
  readonly stock: number
  readonly sold: number
  readonly price_cents: number
  readonly shard: number | null
  readonly fence: number | string | null
  readonly now: Date
}

/**
 * Writes the parts' orders, results in the parts' order: one part alone (writeOrders, its own
 * transaction), several in one transaction (writeJoint). Parts in event and shard order (so two
 * such writes never wait on each other's rows); none two of the same shard.
 */
export async function writeParts (db: Knex, parts: readonly JointPart[], settings: OrderWriteSettings): Promise<PartWritten[]> {
  const one = parts[0]
  if (parts.length === 1 && one !== undefined) return [await writeOrders(db, one.eventId, one.winners, settings, one.fence)]
  if (parts.length > 1) return await db.transaction(async (trx) => await writeJoint(trx, parts, settings))
  return []
}

/** Parts in event and shard order (the caller's); none two of the same shard. */
export async function writeJoint (trx: Knex.Transaction, parts: readonly JointPart[], settings: OrderWriteSettings): Promise<PartWritten[]> {
  const eventIds = [...new Set(parts.map((p) => p.eventId))]
  const shardsOf = [...new Set(parts.map((p) => p.fence.shard))]
  const [rows] = await trx.raw(
    `SELECT e.id, e.stock, e.sold, e.price_cents, f.shard, f.fence, CURRENT_TIMESTAMP(3) AS now FROM seckill_events e
     LEFT JOIN shard_fences f ON f.event_id = e.id AND f.shard IN (${shardsOf.map(() => '?').join(',')})
     WHERE e.id IN (${eventIds.map(() => '?').join(',')}) ORDER BY e.id FOR UPDATE`,
    [...shardsOf, ...eventIds]) as [LockedRow[]]
  const events = new Map<number, LockedRow>()
  const fences = new Map<string, number>()
  for (const r of rows) {
    events.set(Number(r.id), r)
    if (r.shard !== null && r.fence !== null) fences.set(`${String(r.id)}:${r.shard}`, Number(r.fence))
  }

  const results: Array<PartWritten | undefined> = new Array(parts.length)
  const room = new Map([...events].map(([id, e]) => [id, e.stock - e.sold]))
  let common = true
  parts.forEach((p, i) => {
    if (!events.has(p.eventId)) results[i] = new Map(p.winners.map((w) => [w.qpos, { kind: 'failed', reason: 'event_gone' }]))
    else if (fences.get(`${p.eventId}:${p.fence.shard}`) !== p.fence.fence) results[i] = 'lease_lost'
    else {
      const left = (room.get(p.eventId) ?? 0) - p.winners.length
      if (left < 0) common = false
      room.set(p.eventId, left)
    }
  })
  const writing = parts.map((p, i) => ({ p, i })).filter(({ i }) => results[i] === undefined)
  if (!common || writing.length === 0) return await onePartAtATime(trx, parts, results, settings)

  const rowsToInsert = writing.map(({ p }) => {
    const e = events.get(p.eventId) as LockedRow
    return { eventId: p.eventId, shard: p.fence.shard, winners: p.winners, priceCents: e.price_cents, expiresAt: paymentDeadline(e.now, settings.paymentTimeoutMs) }
  })
  let firstId: number | undefined
  try {
    firstId = await insertOrders(trx, rowsToInsert)
  } catch (err) {
    // A buyer with an order already, or a replay: the statement was undone; the careful way.
    if ((err as { code?: string }).code !== DUPLICATE_KEY) throw err
    return await onePartAtATime(trx, parts, results, settings)
  }

  const soldBy = new Map<number, number>()
  for (const { p } of writing) soldBy.set(p.eventId, (soldBy.get(p.eventId) ?? 0) + p.winners.length)
  const cases = [...soldBy].map(() => 'WHEN ? THEN ?').join(' ')
  const caseArgs = [...soldBy].flatMap(([id, n]) => [id, n])
  const bumped = await trx.raw(
    `UPDATE seckill_events SET sold = sold + CASE id ${cases} END WHERE id IN (${[...soldBy].map(() => '?').join(',')}) AND sold + CASE id ${cases} END <= stock`,
    [...caseArgs, ...soldBy.keys(), ...caseArgs]) as [{ affectedRows: number }]
  if (bumped[0].affectedRows !== soldBy.size) throw new Error(`events ${[...soldBy.keys()].join(',')}: sold guard refused a joint write`)

  const ids = await newOrderIds(writing.flatMap(({ p }) => p.winners), firstId, settings, lookUpIn(trx))
  for (const { p, i } of writing) results[i] = new Map(p.winners.map((w) => [w.qpos, { kind: 'won', orderId: ids.get(w.ticketId) as string }]))
  return results as PartWritten[]
}

/** The parts not decided yet, each written as alone (same transaction, rows already locked). */
async function onePartAtATime (trx: Knex.Transaction, parts: readonly JointPart[], results: Array<PartWritten | undefined>, settings: OrderWriteSettings): Promise<PartWritten[]> {
  const out: PartWritten[] = []
  for (const [i, p] of parts.entries()) out.push(results[i] ?? await writeOrdersIn(trx, p.eventId, p.winners, settings, p.fence))
  return out
}
