/**
 * Audits a sale against the product's invariants, reading MySQL and Redis directly (never through
 * the API). Tests, the benchmark and fault drills all end with it.
 *
 *   I1  live orders of the event <= stock, and `sold` counts exactly the live orders
 *   I2  at most one live order per (event, user); every won ticket has its order and vice versa
 *       (bar orders whose ticket Redis lost in a restart without persistence: MySQL has them)
 *   I3  no ticket is still queued, nothing pending, every admitted position decided
 *   I4  FIFO per shard: no ticket lost to sold_out while a later ticket of the shard won, judged
 *       within each epoch (a unit that came back from a cancelled or expired order starts one)
 *   I5  when demand >= stock, every unit is sold (a draw: no unit unsold while a runner-up waits,
 *       or while a winner or runner-up the placement recorded in MySQL has no answer of their own:
 *       drawnWithoutAnswer)
 *   I6  Redis unreserved stock = stock − sold, and units held in Redis = live orders
 *
 *   I7  (a sale with a waitlist) the waitlist is served in its order and before newcomers: buyers
 *       served in non-decreasing arrival order, nobody still waiting arrived before the last one
 *       served, no served ticket lost for want of a unit, and no ticket admitted after a waitlisted buyer arrived
 *       won before that buyer was served. Tickets served from the waitlist are judged here, not
 *       by I4's FIFO order of the line.
 *
 *   I4R (a randomized start) the lead window's buyers were placed in the committed order, before
 *       any later arrival of their shard: the seed matches the commitment published with the
 *       sale; each shard's recorded order is the draw's (HMAC-SHA256(seed, entry id), lowest
 *       first) over its entries; in Redis every entrant holds the position base + its rank, every
 *       other holder comes after them, none was left unplaced, and Redis placed what MySQL
 *       recorded.
 *
 *   I4D (a draw, mode draw) the draw decided the sale: the entrants the draw ranks first -- the
 *       first `stock` placed -- did not lose (they won, or failed when banned before the draw);
 *       nobody but an entrant holds a ticket (no buy after the close); every ticket past the
 *       placed ones was served from the waitlist (runners-up, in drawn order: I7).
 *
 * The rest of I7 (a resubmitted buy returns the same ticket; a buyer told sold_out is never
 * admitted by another path) is a property of the API; callers check it there.
 */
import type { Knex } from 'knex'
import type { RedisClient } from '../redis/scripts'
import type { KeySpace } from '../redis/keys'
import { parseStoredTicket } from './tickets'
import { parseTicketId, queuedTicketId } from '../shared/ticket-ids'
import { LIVE_ORDER_STATUSES } from '../shared/order-statuses'
import { commitmentOf, draw } from './allocation'
import { eventsRepository } from '../catalog'

export interface InvariantCheck {
  readonly id: 'I1' | 'I2' | 'I3' | 'I4' | 'I4R' | 'I4D' | 'I5' | 'I6' | 'I7'
  readonly ok: boolean
  readonly detail: string
}

export interface SaleAudit {
  readonly eventId: number
  readonly stock: number
  readonly sold: number
  readonly liveOrders: number
  /** Distinct buyers Redis saw (held a ticket or were turned away at the gate); buyers answered
   *  by an ingress's local sold-out flag never reach Redis, so this is a lower bound. */
  readonly demand: number
  readonly tickets: { readonly won: number, readonly soldOut: number, readonly failed: number, readonly queued: number, readonly rejectedAtGate: number }
  readonly checks: readonly InvariantCheck[]
  readonly ok: boolean
}

export async function auditSale (db: Knex, redis: RedisClient, keys: KeySpace, eventId: number): Promise<SaleAudit> {
  const event = await db('seckill_events').first('stock', 'sold', 'shards', 'waitlist', 'allocation_mode', 'entry_mode', 'start_seed', 'start_commitment').where({ id: eventId }) as
    { stock: number, sold: number, shards: number, waitlist: number | boolean, allocation_mode: string, entry_mode: string, start_seed: string | null, start_commitment: string | null } | undefined
  if (event === undefined) throw new Error(`event ${eventId} not found`)
  const orders = await db('orders').select('id', 'ticket_id', 'user_id', 'status').where({ event_id: eventId }) as Array<{ id: number | string, ticket_id: string, user_id: number | string, status: string }>
  const live = orders.filter((o) => (LIVE_ORDER_STATUSES as readonly string[]).includes(o.status))
  const orderByTicket = new Map(orders.map((o) => [o.ticket_id, o]))

  const counts = { won: 0, soldOut: 0, failed: 0, queued: 0, rejectedAtGate: 0 }
  let demand = 0
  let redisStock = 0
  let heldUnits = 0
  const fifoProblems: string[] = []
  const progressProblems: string[] = []
  const pairingProblems: string[] = []
  const waitlistProblems: string[] = []
  const startProblems: string[] = []
  const drawProblems: string[] = []
  const isDraw = event.allocation_mode === 'draw'
  let drawWaiting = 0
  const randomStart = event.entry_mode === 'random_at_start'
  const placements = randomStart ? await placementsOf(db, eventId, event.start_seed, event.start_commitment, startProblems) : []
  // Read before the shards: what the draw published, judged against MySQL (see drawnUnanswered).
  const drawnUnanswered = isDraw ? await drawnWithoutAnswer(db, redis, keys, eventId, event.shards, placements, orders) : []
  const wonTickets = new Set<string>()
  /** Tickets Redis lost (handed out before a rebuild): MySQL alone knows the ones that won. */
  const lostWithRedis: Array<(shard: number, qpos: number) => boolean> = []

  for (let shard = 0; shard < event.shards; shard++) {
    const k = keys.shard({ eventId, shard })
    const [stock, pending, qseq, drained, rejectedAt, rejected, reserved, tickets, epochList] = await Promise.all([
      redis.get(k.stock), redis.get(k.pending), redis.get(k.qseq), redis.get(k.drained), redis.get(k.rejectedAt),
      redis.scard(k.rejected), redis.hlen(k.reserved), redis.hgetall(k.tickets), redis.lrange(k.epochs, 0, -1)
    ])
    const lostBelow = Number(await redis.get(k.lostBelow) ?? 0)
    const served = await waitlistOf(redis, keys, { eventId, shard }, tickets, epochList, waitlistProblems)
    if (randomStart) await startOf(redis, keys, { eventId, shard }, placements.filter((p) => p.shard === shard), served, startProblems)
    if (isDraw) drawWaiting += await drawOf(redis, keys, { eventId, shard }, event.stock, tickets, served, drawProblems)
    lostWithRedis.push((s, qpos) => s === shard && qpos <= lostBelow && tickets[String(qpos)] === undefined)
    // Epoch i holds the positions decided before the i-th reopen; the last epoch runs to now.
    const epochs = epochList.map((e) => {
      const [decidedUpTo, rejectedAtThen] = e.split(':')
      return { upTo: Number(decidedUpTo), rejectedAt: rejectedAtThen === '' || rejectedAtThen === undefined ? undefined : Number(rejectedAtThen) }
    })
    epochs.push({ upTo: Number.POSITIVE_INFINITY, rejectedAt: rejectedAt === null ? undefined : Number(rejectedAt) })
    const epochOf = (qpos: number): number => epochs.findIndex((e) => qpos <= e.upTo)
    const maxWon = new Array<number>(epochs.length).fill(0)
    const minLost = new Array<number>(epochs.length).fill(Number.POSITIVE_INFINITY)
    redisStock += Number(stock ?? 0)
    heldUnits += reserved
    counts.rejectedAtGate += rejected
    demand += rejected + Object.keys(tickets).length
    if (Number(pending ?? 0) !== 0) progressProblems.push(`shard ${shard}: pending=${pending ?? 'missing'}`)
    if (Number(drained ?? 0) !== Number(qseq ?? 0)) progressProblems.push(`shard ${shard}: drained ${drained ?? 0} of ${qseq ?? 0}`)

    for (const [q, value] of Object.entries(tickets)) {
      const qpos = Number(q)
      const t = parseStoredTicket(value)
      const id = queuedTicketId(eventId, shard, qpos)
      if (t === undefined) { progressProblems.push(`${id}: unreadable`); continue }
      if (served.has(qpos)) {
        // Served from the waitlist: judged by I7, not by the line's FIFO order.
        if (t.status === 'won') { counts.won++; wonTickets.add(id) } else if (t.status === 'queued') { counts.queued++; progressProblems.push(`${id}: still queued`) }
        continue
      }
      switch (t.status) {
        case 'queued': counts.queued++; progressProblems.push(`${id}: still queued`); break
        case 'won': {
          counts.won++
          wonTickets.add(id)
          maxWon[epochOf(qpos)] = Math.max(maxWon[epochOf(qpos)] ?? 0, qpos)
          const order = orderByTicket.get(id)
          if (order === undefined) pairingProblems.push(`${id} won without an order`)
          else if (String(order.id) !== t.detail || String(order.user_id) !== t.userId) pairingProblems.push(`${id} does not match order ${order.id}`)
          break
        }
        case 'sold_out': counts.soldOut++; minLost[epochOf(qpos)] = Math.min(minLost[epochOf(qpos)] ?? Number.POSITIVE_INFINITY, qpos); break
        case 'failed': counts.failed++; break
      }
    }
    epochs.forEach((e, i) => {
      const won = maxWon[i] ?? 0
      const lost = minLost[i] ?? Number.POSITIVE_INFINITY
      if (won > lost) fifoProblems.push(`shard ${shard} epoch ${i}: position ${lost} lost while ${won} won`)
      if (e.rejectedAt !== undefined && won > e.rejectedAt) fifoProblems.push(`shard ${shard} epoch ${i}: position ${won} won after the gate turned buyers away at ${e.rejectedAt}`)
    })
  }
  for (const o of orders) {
    const ref = parseTicketId(o.ticket_id)
    const lost = ref?.kind === 'queued' && lostWithRedis.some((isLost) => isLost(ref.shard, ref.qpos))
    if (!wonTickets.has(o.ticket_id) && !lost) pairingProblems.push(`order ${o.id} has no won ticket ${o.ticket_id}`)
  }
  const perUser = new Map<string, number>()
  for (const o of live) perUser.set(String(o.user_id), (perUser.get(String(o.user_id)) ?? 0) + 1)
  const doubles = [...perUser.entries()].filter(([, n]) => n > 1)

  const checks: InvariantCheck[] = [
    {
      id: 'I1',
      ok: live.length <= event.stock && event.sold === live.length,
      detail: `live orders ${live.length}, sold ${event.sold}, stock ${event.stock}`
    },
    {
      id: 'I2',
      ok: doubles.length === 0 && pairingProblems.length === 0,
      detail: doubles.length > 0 ? `users with two live orders: ${doubles.slice(0, 5).map(([u]) => u).join(', ')}` : pairingProblems.slice(0, 5).join('; ') || 'one order per buyer, each matching its won ticket'
    },
    {
      id: 'I3',
      ok: progressProblems.length === 0,
      detail: progressProblems.slice(0, 5).join('; ') || 'every ticket final'
    },
    {
      id: 'I4',
      ok: fifoProblems.length === 0,
      detail: fifoProblems.join('; ') || 'no later ticket won over an earlier loser'
    },
    {
      // A draw takes no buyer after the close: its demand is the runners-up still waiting, as Redis
      // has them, and the published entrants MySQL cannot show were given an answer of their own.
      id: 'I5',
      ok: isDraw ? (drawWaiting === 0 && drawnUnanswered.length === 0) || live.length === event.stock : demand < event.stock || live.length === event.stock,
      detail: isDraw
        ? `runners-up waiting ${drawWaiting}, published entrants without an answer of their own ${drawnUnanswered.length}${drawnUnanswered.length > 0 ? ` (${drawnUnanswered.slice(0, 3).join(', ')})` : ''}, stock ${event.stock}, sold ${live.length}`
        : `demand ${demand}, stock ${event.stock}, sold ${live.length}`
    },
    {
      id: 'I6',
      ok: redisStock === event.stock - event.sold && heldUnits === live.length,
      detail: `redis stock ${redisStock} vs stock − sold ${event.stock - event.sold}; units held ${heldUnits} vs live orders ${live.length}`
    },
    ...(randomStart
      ? [{ id: 'I4R' as const, ok: startProblems.length === 0, detail: startProblems.slice(0, 5).join('; ') || 'the lead window\'s buyers were placed in the committed order, before later arrivals' }]
      : []),
    ...(isDraw
      ? [{ id: 'I4D' as const, ok: drawProblems.length === 0, detail: drawProblems.slice(0, 5).join('; ') || 'the first units in drawn order won, nobody entered after the close, later tickets were runners-up served' }]
      : []),
    ...(Number(event.waitlist) === 1
      ? [{ id: 'I7' as const, ok: waitlistProblems.length === 0, detail: waitlistProblems.slice(0, 5).join('; ') || 'the waitlist was served in order, before newcomers' }]
      : [])
  ]
  return {
    eventId,
    stock: event.stock,
    sold: event.sold,
    liveOrders: live.length,
    demand,
    tickets: counts,
    checks,
    ok: checks.every((c) => c.ok)
  }
}

/**
 * Checks a shard's waitlist (I7) against its tickets; returns the positions of the tickets served
 * from it. Every buyer ever on it is there with an arrival key: served ones in `served` (with their
 * new position), waiting ones in `list`.
 */
async function waitlistOf (redis: RedisClient, keys: KeySpace, ref: { eventId: number, shard: number }, tickets: Record<string, string>, epochList: readonly string[],
  problems: string[]): Promise<Set<number>> {
  const w = keys.waitlist(ref)
  const [servedLog, waiting] = await Promise.all([redis.lrange(w.served, 0, -1), redis.zrange(w.list, 0, -1, 'WITHSCORES')])
  const entries: Array<{ key: number, user: string, until: number }> = []
  const served = new Set<number>()
  let lastKey = Number.NEGATIVE_INFINITY
  for (const line of servedLog) {
    const [key, user, qpos] = line.split(':')
    const e = { key: Number(key), user: user ?? '', until: Number(qpos) }
    if (e.key < lastKey) problems.push(`shard ${ref.shard}: user ${e.user} (arrival ${e.key}) served after one who arrived at ${lastKey}`)
    lastKey = Math.max(lastKey, e.key)
    served.add(e.until)
    entries.push(e)
    // Served with its unit reserved: it wins, or fails `already_ordered` (a buyer who holds an
    // order Redis lost, asking again) and the write gives the unit back to the next one.
    const t = parseStoredTicket(tickets[String(e.until)] ?? '')
    if (t === undefined || t.status === 'sold_out') problems.push(`shard ${ref.shard}: served ticket ${e.until} is ${t?.status ?? 'missing'}, though its unit was reserved`)
  }
  for (let i = 0; i + 1 < waiting.length; i += 2) {
    const key = Number(waiting[i + 1])
    const user = String(waiting[i]).split(':')[1] ?? ''
    if (key < lastKey) problems.push(`shard ${ref.shard}: user ${user} (arrival ${key}) still waits, one who arrived at ${lastKey} was served`)
    entries.push({ key, user, until: Number.POSITIVE_INFINITY })
  }
  // No ticket of the line (not served from the waitlist) that came after a waitlisted buyer won
  // while that buyer was still waiting. The owner serves between batches, every position up to
  // the highest decided one settled, and starts an epoch there: so a buyer served was waiting
  // while positions up to that boundary were decided -- the first boundary at or past their
  // arrival (boundaries never go back). A ticket admitted before the serve but decided after it
  // (a draw's later entrant, or one in line behind) may win a unit that came back later.
  const boundaries = epochList.map((e) => Number(e.split(':')[0]))
  const servedAt = (e: { key: number, until: number }): number => e.until === Number.POSITIVE_INFINITY
    ? e.until
    : Math.min(e.until - 1, ...boundaries.filter((b) => b >= e.key))
  const lineWins = Object.entries(tickets).filter(([q, v]) => !served.has(Number(q)) && parseStoredTicket(v)?.status === 'won').map(([q]) => Number(q))
  for (const e of entries) {
    const upTo = servedAt(e)
    const passed = lineWins.find((q) => q > e.key && q <= upTo)
    if (passed !== undefined) problems.push(`shard ${ref.shard}: position ${passed} won while user ${e.user} (arrival ${e.key}) waited`)
  }
  return served
}

interface Placement { shard: number, base: number, order: string[] }

/** A randomized start's recorded placements, each checked against the seed and its commitment. */
async function placementsOf (db: Knex, eventId: number, seed: string | null, commitment: string | null, problems: string[]): Promise<Placement[]> {
  const placements = (await eventsRepository(db).placements(eventId)).map((p) => ({ ...p, order: [...p.order] }))
  if (seed === null || commitment === null || commitmentOf(seed) !== commitment) {
    problems.push('the seed does not match the published commitment')
    return placements
  }
  for (const p of placements) {
    const drawn = draw(seed, p.order, 0).order
    const at = drawn.findIndex((id, i) => id !== p.order[i])
    if (at >= 0) problems.push(`shard ${p.shard}: entry ${p.order[at] ?? ''} placed at ${p.base + at + 1}, the draw puts ${drawn[at] ?? ''} there`)
  }
  return placements
}

/**
 * A shard of a randomized start in Redis against its recorded placement. An entrant who lost and
 * was served from the waitlist later (a draw's runner-up) holds the served position instead,
 * which I7 judges.
 */
async function startOf (redis: RedisClient, keys: KeySpace, ref: { eventId: number, shard: number }, recorded: Placement[], served: ReadonlySet<number>, problems: string[]): Promise<void> {
  const k = keys.shard(ref)
  const [seal, placed, entrants, holders, placedOrder] = await Promise.all([
    redis.get(k.startSeal), redis.get(k.startPlaced), redis.hgetall(k.entrants), redis.hgetall(k.holders), redis.lrange(k.startOrder, 0, -1)
  ])
  const count = Object.keys(entrants).length
  if (seal === null) {
    if (count > 0) problems.push(`shard ${ref.shard}: ${count} entrants, never placed`)
    return
  }
  const [base, n] = seal.split(':').map(Number) as [number, number]
  if (n !== count) problems.push(`shard ${ref.shard}: ${count} entrants, ${n} sealed`)
  if (Number(placed ?? 0) !== n) problems.push(`shard ${ref.shard}: ${placed ?? 0} of ${n} entrants placed`)
  const record = recorded.find((p) => p.base === base)
  if (record === undefined) problems.push(`shard ${ref.shard}: no placement recorded from position ${base + 1}`)
  else if (JSON.stringify(record.order) !== JSON.stringify(placedOrder)) problems.push(`shard ${ref.shard}: Redis placed another order than the one recorded`)
  const userOf = new Map(Object.entries(entrants).map(([user, entry]) => [entry, user]))
  placedOrder.forEach((entry, i) => {
    const user = userOf.get(entry)
    if (user === undefined) problems.push(`shard ${ref.shard}: placed entry ${entry} is no entrant's`)
    else if (Number(holders[user]) !== base + i + 1 && !served.has(Number(holders[user]))) problems.push(`shard ${ref.shard}: entrant ${user} holds ${holders[user] ?? 'nothing'}, drawn to ${base + i + 1}`)
  })
  for (const [user, qpos] of Object.entries(holders)) {
    if (entrants[user] === undefined && Number(qpos) <= base + n && Number(qpos) > base) problems.push(`shard ${ref.shard}: ${user}, not an entrant, holds ${qpos} among the entrants' places`)
    if (entrants[user] === undefined && Number(qpos) <= base) problems.push(`shard ${ref.shard}: ${user} holds ${qpos}, ahead of the entrants`)
  }
}

/**
 * A draw's shard (I4D): its tickets against its seal and the waitlist's served buyers. Returns the
 * runners-up still waiting for a unit: entrants whose ticket lost, who hold no newer one, did not
 * leave the waitlist and are not banned (I5 for a draw: no unit unsold while one of them waits).
 */
async function drawOf (redis: RedisClient, keys: KeySpace, ref: { eventId: number, shard: number }, stock: number, tickets: Record<string, string>,
  served: ReadonlySet<number>, problems: string[]): Promise<number> {
  const k = keys.shard(ref)
  const w = keys.waitlist(ref)
  const [seal, entrants, holders, left, banned] = await Promise.all([redis.get(k.startSeal), redis.hgetall(k.entrants), redis.hgetall(k.holders), redis.smembers(w.left), redis.smembers(k.banned)])
  const gone = new Set([...left, ...banned])
  let waiting = 0
  const [base, n] = (seal ?? '0:0').split(':').map(Number) as [number, number]
  for (let q = base + 1; q <= base + Math.min(stock, n); q++) {
    const t = parseStoredTicket(tickets[String(q)] ?? '')
    if (t === undefined || t.status === 'sold_out') problems.push(`shard ${ref.shard}: the entrant drawn ${q - base} of ${stock} winners is ${t?.status ?? 'missing'}`)
  }
  for (const [q, value] of Object.entries(tickets)) {
    const t = parseStoredTicket(value)
    if (t !== undefined && entrants[t.userId] === undefined) problems.push(`shard ${ref.shard}: ${t.userId}, who never entered, holds ticket ${q}`)
    if (Number(q) > base + n && !served.has(Number(q))) problems.push(`shard ${ref.shard}: ticket ${q}, past the drawn entrants, was not served from the waitlist`)
    if (t?.status === 'sold_out' && holders[t.userId] === q && !gone.has(t.userId)) waiting++
  }
  return waiting
}

/**
 * The entrants a draw published (its placements recorded in MySQL, less the excluded: the winners
 * and runners-up GET /draw names) who cannot be shown to have had an answer of their own: I5 for a
 * draw fails if one of them exists while a unit is unsold.
 *
 * The rule: a published entrant is answered when they were given a unit (an order of theirs for
 * the sale exists in MySQL, live or ended by their own cancel, expiry or refund: the unit was
 * theirs to keep), or they left the waitlist, or were banned (the shard's banned set, which the
admission and the waitlist's service read). Anything else -- still waiting, a
 * ticket failed for a reason they did not cause, or nothing known at all -- is not an answer: a
 * runner-up next in line for the unsold unit was owed it. Redis names the entrant behind an entry
 * id (the entrants hash); when Redis has lost the shard (R2, R2b: the hash is gone) only MySQL is
 * left, and an entrant counts as answered only if the ticket of their drawn position has an order.
 * This is what Redis's counts of waiting runners-up cannot see: after the loss they are gone from
 * Redis, refused DRAW_CLOSED, and the units stay unsold.
 */
async function drawnWithoutAnswer (db: Knex, redis: RedisClient, keys: KeySpace, eventId: number, shards: number, placements: readonly Placement[],
  orders: ReadonlyArray<{ ticket_id: string, user_id: number | string }>): Promise<string[]> {
  const excludedRows = await db('start_exclusions').select('entries').where({ event_id: eventId }) as Array<{ entries: string }>
  const excluded = new Set(excludedRows.flatMap((r) => JSON.parse(r.entries) as string[]))
  const gotUnit = new Set(orders.map((o) => String(o.user_id)))
  const orderTickets = new Set(orders.map((o) => o.ticket_id))
  const unanswered: string[] = []
  for (let shard = 0; shard < shards; shard++) {
    const k = keys.shard({ eventId, shard })
    const w = keys.waitlist({ eventId, shard })
    const [entrants, left, banned] = await Promise.all([redis.hgetall(k.entrants), redis.smembers(w.left), redis.smembers(k.banned)])
    const userOf = new Map(Object.entries(entrants).map(([user, entry]) => [entry, user]))
    const gone = new Set([...left, ...banned])
    for (const p of placements.filter((pl) => pl.shard === shard)) {
      p.order.forEach((entry, i) => {
        if (excluded.has(entry)) return
        const user = userOf.get(entry)
        const answered = user !== undefined
          ? gotUnit.has(user) || gone.has(user)
          : orderTickets.has(queuedTicketId(eventId, shard, p.base + i + 1))
        if (!answered) unanswered.push(entry)
      })
    }
  }
  return unanswered
}
