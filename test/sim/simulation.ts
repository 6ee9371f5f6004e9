/**
 * Deterministic simulation of a sale's drain, in the manner of FoundationDB's and TigerBeetle's
 * simulators: every scheduling decision -- which buyer arrives, which stage of which batch runs
 * next, when an owner crashes or stalls and a new owner takes over, when a buyer pays, cancels or
 * lets the deadline pass, when a returned unit is applied -- comes from one seeded random source,
 * and every step is awaited before the next is chosen. The code under test is the real one: the
 * admission script behind the real HTTP ingress, the drain's reserve/write/finish stages with the
 * real Lua scripts and MySQL transactions, the fenced leases, the return applier and the order
 * lifecycle. A run that breaks an invariant prints its seed; the same seed replays the same
 * interleaving.
 *
 * After the random part the run settles: stalled owners wake up (and must change nothing), the
 * current owners drain everything and apply every return, and new buyers arrive while units are
 * left. Then the audit judges I1-I6, buying again must return the same ticket (I7), and the event
 * must be able to retire: nothing undecided, `pending` never negative, no return left unapplied.
 */
import type { TestEnv } from '../helpers/env'
import type { RedisClient } from '../../src/redis/scripts'
import { SCRIPT_NAMES, scriptCommand } from '../../src/redis/scripts'
import { beforeCall } from '../helpers/intercept'
import type { Http } from '../helpers/sale'
import { rng } from '../helpers/rng'
import { acquireLease } from '../../src/domain/shard-lease'
import type { Lease } from '../../src/domain/shard-lease'
import { finishBatch, reserveBatch, writeBatch, writeBatches } from '../../workers/drain-batch'
import type { DrainBatchInput, DrainDeps, Reservation, Written } from '../../workers/drain-batch'
import { applyDueReturns } from '../../workers/return-applier'
import { declareSoldOutIfEmpty, eventDecided, warmEvent } from '../../src/domain/sale-state'
import { allShardKeys } from '../../src/redis/keys'
import { reconcileEvent } from '../../src/domain/reconciler'
import type { EventsRepository } from '../../src/domain/events'
import { cancelOrder, expireOrder, payOrder } from '../../src/domain/order-lifecycle'
import type { LifecycleDeps } from '../../src/domain/order-lifecycle'
import type { CatalogDeps } from '../../src/domain/catalog'
import { editBeforeStart } from './edits'
import { racing } from './racing'
import { auditSale } from '../../src/audit/sale-audit'

export interface SimContext {
  readonly env: TestEnv
  readonly http: Http
  readonly lifecycle: LifecycleDeps
  readonly events: EventsRepository
  /** The admin's catalog (event edits before the start). */
  readonly catalog: CatalogDeps
}

export interface SimResult {
  readonly seed: number
  readonly steps: number
  readonly problems: readonly string[]
  /** What happened, by kind, for the summary. */
  readonly counts: Readonly<Record<string, number>>
  /** Every step, in order (printed when one seed is replayed). */
  readonly trace: readonly string[]
}

interface Flight {
  readonly positions: number[]
  readonly reservation: Reservation
  written?: Written
}

interface Owner {
  readonly shard: number
  readonly lease: Lease
  /** Next queue position this owner puts in a batch. */
  next: number
  flights: Flight[]
  /** A stage was refused: the owner knows it lost the shard and stops, as the drainer does. */
  lost: boolean
}

const PIPELINE = 3
const MAX_BATCH = 3

/**
 * Which events the scheduler may draw. `extended`: also edits before the start and requests racing
 * a rebuild or a reconciler run (drawn from a second source, so the seeds found before they were
 * added replay the same interleavings with `extended: false`). `joint`: a write stage may write
 * another owner's next batch in the same transaction, as a worker does with shards whose writes
 * wait at the same time (drawn from a third source; off, the extended seeds replay unchanged).
 */
export interface SimModel { readonly extended: boolean, readonly joint?: boolean }

export async function runSeed (ctx: SimContext, seed: number, model: SimModel = { extended: true, joint: true }): Promise<SimResult> {
  const { env, http } = ctx
  const random = rng(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T
  const counts: Record<string, number> = {}
  const trace: string[] = []
  const count = (what: string, detail = ''): void => {
    counts[what] = (counts[what] ?? 0) + 1
    trace.push(detail === '' ? what : `${what} ${detail}`)
    if (process.env.SIM_TRACE === '1') process.stderr.write(`${trace[trace.length - 1] ?? ''}\n`)
  }
  const problems: string[] = []

  let shards = random() < 0.5 ? 1 : 2
  let stock = 2 + Math.floor(random() * 4)
  // A second source for the events added later (edits before the start, requests racing a repair),
  // so the main sequence of the seeds kept in the regressions is unchanged.
  const side = rng(seed + 0x5eed)
  const jointly = rng(seed + 0x101e7)
  const productId = await createProduct(ctx)
  let eventId: number
  if (model.extended && side() < 0.3) {
    eventId = await editBeforeStart({ env, catalog: ctx.catalog, random: side, count }, productId, stock, shards)
    const event = await ctx.events.findById(eventId)
    if (event === undefined) throw new Error('event gone')
    stock = event.stock
    shards = event.shards
  } else {
    eventId = await createEvent(ctx, productId, stock, shards)
  }
  const deps: DrainDeps = { redis: env.redis, db: env.db, keys: env.keys, orderWrites: { paymentTimeoutMs: 600_000, consecutiveIds: true } }
  const current: Array<Owner | undefined> = new Array(shards).fill(undefined)
  const stale: Owner[] = []
  let nextUser = seed * 1000 + 1
  const buyers: string[] = []
  const tickets = new Map<string, string>()
  let owners = 0

  const input = (o: Owner, positions: number[]): DrainBatchInput =>
    ({ eventId, shard: o.shard, shards, leaseToken: o.lease.token, fence: o.lease.fence, positions, rate: 0 })
  const k = (shard: number): ReturnType<TestEnv['keys']['shard']> => env.keys.shard({ eventId, shard })
  const num = async (key: string): Promise<number> => Number(await env.redis.get(key) ?? 0)

  const takeOver = async (shard: number): Promise<void> => {
    await env.redis.del(k(shard).lease) // the previous lease ran out
    const lease = await acquireLease(env.redis, env.db, env.keys, { eventId, shard }, shards, `owner-${++owners}`, 600_000)
    if (lease === undefined) throw new Error('lease not taken')
    current[shard] = { shard, lease, next: await num(k(shard).drained) + 1, flights: [], lost: false }
  }
  for (let s = 0; s < shards; s++) await takeOver(s)

  const buy = async (user: string): Promise<void> => {
    const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })
    if (r.status !== 200 && r.status !== 202) { problems.push(`buy by ${user} answered ${r.status}`); return }
    const id = String(r.body.data.ticket_id)
    const before = tickets.get(user)
    if (before !== undefined && before !== id) problems.push(`I7: buyer ${user} got ticket ${id} after ${before}`)
    tickets.set(user, id)
  }

  /** Runs one stage of an owner's batches that may run now (each stage runs in batch order). */
  const step = async (o: Owner): Promise<void> => {
    const head = o.flights[0]
    const writable = o.flights.find((f) => f.written === undefined)
    if (head?.written !== undefined && (writable === undefined || random() < 0.5)) {
      o.flights.shift()
      const result = await finishBatch(deps, input(o, head.positions), head.reservation, head.written)
      count(result.leaseLost ? 'stale finish refused' : 'finish', `${o.lease.token} [${head.positions.join(',')}] ${result.outcomes.map((x) => x.status).join(',')} stock ${result.stock}`)
      if (result.leaseLost) { o.flights = []; o.lost = true }
      else if (result.stock === 0) await declareSoldOutIfEmpty(deps, { id: eventId, shards })
      return
    }
    const partner = writable !== undefined && model.joint === true && jointly() < 0.3 ? nextWrite(o) : undefined
    if (writable !== undefined && partner !== undefined) {
      // One transaction for both owners' next batches (a former owner's among them, maybe).
      const [mine, theirs] = await writeBatches(deps, [
        { input: input(o, writable.positions), reservation: writable.reservation },
        { input: input(partner.owner, partner.flight.positions), reservation: partner.flight.reservation }
      ]) as [Written, Written]
      for (const [owner, flight, written] of [[o, writable, mine], [partner.owner, partner.flight, theirs]] as const) {
        flight.written = written
        count(written.leaseLost ? 'stale write refused' : 'joint write', `${owner.lease.token} [${flight.positions.join(',')}] ${written.results.map(([q, w]) => `${q}:${w.kind === 'won' ? w.orderId : w.reason}`).join(',')}`)
        if (written.leaseLost) { owner.flights = []; owner.lost = true }
      }
      return
    }
    if (writable !== undefined) {
      writable.written = await writeBatch(deps, input(o, writable.positions), writable.reservation)
      count(writable.written.leaseLost ? 'stale write refused' : 'write', `${o.lease.token} [${writable.positions.join(',')}] ${writable.written.results.map(([q, w]) => `${q}:${w.kind === 'won' ? w.orderId : w.reason}`).join(',')}`)
      if (writable.written.leaseLost) { o.flights = []; o.lost = true }
    }
  }
  /** Another owner's next batch to write (any shard, a former owner's too), for a joint write. */
  const nextWrite = (o: Owner): { owner: Owner, flight: Flight } | undefined => {
    const others = [...current, ...stale].filter((x): x is Owner => x !== undefined && x !== o && !x.lost)
    for (const owner of others) {
      const flight = owner.flights.find((f) => f.written === undefined)
      if (flight !== undefined) return { owner, flight }
    }
    return undefined
  }
  const launch = async (o: Owner, stallAt?: number): Promise<boolean> => {
    const qseq = await num(k(o.shard).qseq)
    if (o.lost || o.flights.length >= PIPELINE || o.next > qseq) return false
    const n = 1 + Math.floor(random() * MAX_BATCH)
    const positions = Array.from({ length: Math.min(n, qseq - o.next + 1) }, (_, i) => o.next + i)
    o.next += positions.length
    const reservation = await reserveBatch(stallAt === undefined ? deps : { ...deps, redis: stalling(o, stallAt) }, input(o, positions))
    count(reservation.leaseLost ? 'stale reserve refused' : 'reserve', `${o.lease.token} shard ${o.shard} [${positions.join(',')}] holding ${reservation.holding.map(([q, h]) => `${q}@${h.shard}`).join(',')}`)
    if (!reservation.leaseLost) o.flights.push({ positions, reservation })
    else o.lost = true
    return true
  }
  /**
   * The Redis client as an owner's reserve stage sees it when the owner stalls inside the stage,
   * before its `at`-th script call: meanwhile its lease runs out, a new owner takes the shard and
   * drains what is queued, a buyer pays, cancels or lets the deadline pass, and the siblings' owners
   * apply their returns. Then the stalled stage goes on, as a former owner.
   */
  const scriptCommands = new Set(SCRIPT_NAMES.map(scriptCommand))
  const stalling = (o: Owner, at: number): RedisClient => beforeCall(env.redis, (m) => scriptCommands.has(m), at, async () => {
    stale.push(o)
    await takeOver(o.shard)
    const heir = current[o.shard] as Owner
    count('stall mid-reserve', `${o.lease.token} -> ${heir.lease.token} before script call ${at}`)
    while (heir.flights.length > 0 || await launch(heir)) await step(heir)
    await orderAction(side, ' during a stall')
    for (const sibling of current as Owner[]) if (sibling.shard !== o.shard && sibling.flights.length === 0) await apply(sibling)
  }).proxy
  const apply = async (o: Owner): Promise<void> => {
    const r = await applyDueReturns(env, { eventId, shard: o.shard }, shards, o.lease.token)
    count(r.leaseLost ? 'stale apply refused' : 'apply', `${o.lease.token} returned ${r.returned} waiting ${r.waiting}`)
    if (r.returned > 0) count('unit returned')
  }
  const liveOrders = async (): Promise<Array<{ id: number, user_id: number | string, status: string }>> =>
    await env.db('orders').select('id', 'user_id', 'status').where({ event_id: eventId }).orderBy('id')

  /** A buyer pays, cancels, or lets the payment deadline pass (the order expires). */
  const orderAction = async (source: () => number, during = ''): Promise<void> => {
    const orders = await liveOrders()
    const order = orders.length > 0 ? orders[Math.floor(source() * orders.length)] : undefined
    if (order === undefined) return
    const reader = { userId: String(order.user_id), isAdmin: false }
    const what = source()
    const done = what < 0.4
      ? await payOrder(ctx.lifecycle, order.id, reader).then(() => 'pay', () => 'pay refused')
      : what < 0.75
        ? await cancelOrder(ctx.lifecycle, order.id, reader).then(() => 'cancel', () => 'cancel refused')
        : await env.db('orders').where({ id: order.id }).update({ expires_at: new Date(Date.now() - 1000) })
          .then(async () => await expireOrder(ctx.lifecycle, order.id))
    count(`${done}${during}`, `order ${order.id} of ${String(order.user_id)}`)
  }
  /** The events repository as a repair sees it: half the time a buyer's pay, cancel or expiry lands between two of its reads. */
  const raced = (what: string): ReturnType<typeof racing> => model.extended && side() < 0.5
    ? racing(ctx.events, Math.floor(side() * 5), async () => { await orderAction(side, ` during ${what}`) })
    : { events: ctx.events, settle: async () => {} }

  const steps = 40 + Math.floor(random() * 80)
  for (let i = 0; i < steps; i++) {
    const shard = Math.floor(random() * shards)
    const o = current[shard] as Owner
    const roll = random()
    if (roll < 0.22) {
      const user = String(nextUser++)
      buyers.push(user)
      await buy(user)
      count('buy', `${user} -> ${tickets.get(user) ?? '?'}`)
    } else if (roll < 0.27 && buyers.length > 0) {
      await buy(pick(buyers))
      count('buy again')
    } else if (roll < 0.42) {
      // Extended model: now and then the owner stalls inside the reserve stage.
      const stallAt = model.extended && side() < 0.1 ? Math.floor(side() * 4) : undefined
      if (!await launch(o, stallAt)) await step(o)
    } else if (roll < 0.60) {
      await step(o)
    } else if (roll < 0.66) {
      if (o.flights.length === 0) await apply(o)
    } else if (roll < 0.70) {
      // The owner dies at a stage boundary: its batches in flight vanish; a new owner replays.
      await takeOver(shard)
      count('crash', `shard ${shard} -> ${current[shard]?.lease.token ?? ''}`)
    } else if (roll < 0.74) {
      // The owner stalls; its lease runs out and a new owner takes over. It may wake up later.
      stale.push(o)
      await takeOver(shard)
      count('stall', `${o.lease.token} -> ${current[shard]?.lease.token ?? ''}`)
    } else if (roll < 0.80 && stale.length > 0) {
      const s = pick(stale)
      if (random() < 0.5 || !await launch(s)) await step(s)
      count('stale owner wakes')
    } else if (roll < 0.815) {
      // Redis loses the shard (a restart without persistence, one Cluster node, or all of it);
      // a worker rebuilds it from MySQL, owners take over. Tickets lost read failed, their buyers
      // may buy again and get new tickets.
      const lost = random() < 0.5 ? [shard] : Array.from({ length: shards }, (_, i) => i)
      for (const s of lost) await env.redis.del(...allShardKeys(k(s)))
      if (lost.length === shards) await env.redis.del(env.keys.event(eventId).soldOut)
      tickets.clear()
      const event = await ctx.events.findById(eventId)
      if (event === undefined) throw new Error('event gone')
      const race = raced('rebuild')
      await warmEvent(env, event, race.events)
      await race.settle()
      // The rebuild fenced every shard of the event: every owner's next write is refused, and
      // each shard is taken over again (a drainer whose write is refused stops and takes it anew).
      for (let s = 0; s < shards; s++) {
        stale.push(current[s] as Owner)
        await takeOver(s)
      }
      count('redis loss', `shards ${lost.join(',')}`)
    } else if (roll < 0.83) {
      // Every owner dies; the reconciler runs before anyone takes the shards again.
      for (let s = 0; s < shards; s++) await env.redis.del(k(s).lease)
      const event = await ctx.events.findById(eventId)
      if (event === undefined) throw new Error('event gone')
      const race = raced('reconcile')
      const report = await reconcileEvent({ ...env, events: race.events }, event)
      await race.settle()
      for (let s = 0; s < shards; s++) await takeOver(s)
      count('reconcile', JSON.stringify(report))
    } else if (roll < 0.92) {
      await orderAction(random)
    } else {
      await step(o)
    }
  }

  // Settle: stalled owners wake and run what they had (all refused), current owners drain all.
  for (const s of stale) {
    while (s.flights.length > 0 || await launch(s)) await step(s)
  }
  const drainAll = async (): Promise<void> => {
    for (let round = 0; round < 200; round++) {
      let busy = false
      for (const o of current as Owner[]) {
        if (o.flights.length > 0) { await step(o); busy = true } else if (await launch(o)) busy = true
        else {
          const r = await applyDueReturns(env, { eventId, shard: o.shard }, shards, o.lease.token)
          if (r.returned > 0 || r.waiting > 0) busy = true
        }
      }
      if (!busy) return
    }
    problems.push('the drain did not settle in 200 rounds')
  }
  await drainAll()
  // Units left (returns, or never sold): new buyers come while any is left, as a crowd would.
  for (let round = 0; round < 3 * stock; round++) {
    const left = (await Promise.all(Array.from({ length: shards }, async (_, s) => await num(k(s).stock)))).reduce((a, b) => a + b, 0)
    if (left === 0) break
    const user = String(nextUser++)
    await buy(user)
    await drainAll()
  }

  for (const [user, id] of tickets) {
    const r = await http.request('POST', `/api/v1/events/${eventId}/buy`, { token: env.token(user) })
    if (String(r.body?.data?.ticket_id) !== id) problems.push(`I7: buyer ${user} asked again and got ${String(r.body?.data?.ticket_id)}, not ${id}`)
  }
  await drainAll()
  if (process.env.SIM_TRACE === '2') {
    for (let sh = 0; sh < shards; sh++) {
      const kk = k(sh)
      process.stderr.write(`shard ${sh}: stock ${await num(kk.stock)} pending ${await num(kk.pending)} closed ${String(await env.redis.get(kk.closed))} rejAt ${String(await env.redis.get(kk.rejectedAt))} peers ${JSON.stringify(await env.redis.hgetall(kk.peers))} reserved ${JSON.stringify(await env.redis.hkeys(kk.reserved))} qseq ${await num(kk.qseq)} drained ${await num(kk.drained)}\n`)
    }
    process.stderr.write(`orders ${JSON.stringify(await env.db('orders').select('id', 'ticket_id', 'status', 'unit_shard').where({ event_id: eventId }))}\n`)
    process.stderr.write(`soldOut ${String(await env.redis.get(env.keys.event(eventId).soldOut))} returns ${JSON.stringify(await env.db('unit_returns').where({ event_id: eventId }))}\n`)
  }
  const audit = await auditSale(env.db, env.redis, env.keys, eventId)
  for (const c of audit.checks) if (!c.ok) problems.push(`${c.id}: ${c.detail}`)
  for (let s = 0; s < shards; s++) {
    const pending = await num(k(s).pending)
    if (pending < 0) problems.push(`shard ${s}: pending ${pending}`)
  }
  if (!await eventDecided(env, { id: eventId, shards })) problems.push('the event cannot retire: tickets left undecided')
  const unapplied = await env.db('unit_returns').where({ event_id: eventId }).whereNull('applied_at').count({ n: '*' }).first() as { n: number | string }
  if (Number(unapplied.n) > 0) problems.push(`${String(unapplied.n)} returned units never applied`)
  for (const o of current as Owner[]) await env.redis.del(k(o.shard).lease)
  return { seed, steps, problems, counts, trace }
}

async function createProduct (ctx: SimContext): Promise<number> {
  const product = await ctx.http.request('POST', '/api/v1/admin/products', { token: ctx.env.token(1, 'admin'), body: { title: 'Sim', price_cents: 100 } })
  if (product.status !== 201) throw new Error(`create product: ${product.status}`)
  return product.body.data.id as number
}

async function createEvent (ctx: SimContext, productId: number, stock: number, shards: number): Promise<number> {
  const start = Date.now() - 1000
  const event = await ctx.http.request('POST', '/api/v1/admin/events', {
    token: ctx.env.token(1, 'admin'),
    body: { product_id: productId, title: 'Sim drop', price_cents: 90, stock, shards, start_at: new Date(start).toISOString(), end_at: new Date(start + 3_600_000).toISOString() }
  })
  if (event.status !== 201) throw new Error(`create event: ${event.status}`)
  return event.body.data.id as number
}
