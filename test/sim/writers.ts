/**
 * The writers of a sale's state besides the shard owners, as actors of the simulation's scheduler
 * (the `writers` model, drawn from its own seeded source). Each is the real code, landed between
 * two awaits of another at a point the seed picks:
 *   - the ingresses' memory: pub/sub messages handed to an ingress late, or overtaking an earlier
 *     one (a sold-out message whose holders still load when the reopening arrives), with another
 *     actor landing between the memory's reads; the cached row running out;
 *   - Redis losing shards (keys deleted; a Cluster failover reset does the same) with nobody
 *     rebuilding at once: the next buy or worker round rebuilds, two rebuilds may race with an
 *     order ending between their reads, on a worker clock that may be skewed;
 *   - the reconciler stalling past its leases mid-repair while a worker takes a shard and reserves;
 *   - payment deadlines judged on a worker's skewed clock.
 * What they break is judged with the rest at the end (the audit, I7 across ingresses).
 */
import { armable, landInside } from '../helpers/intercept'
import type { Landing } from '../helpers/intercept'
import type { TestEnv } from '../helpers/env'
import type { SimContext, Owner } from './simulation'
import type { SimIngress } from './ingress'
import type { SaleEvent } from '../../src/shared/sale-event'
import { shardStocks, warmEvent } from '../../src/stock/sale-state'
import { reconcileEvent } from '../../src/stock/reconciler'
import { expireOrder, payOrder } from '../../src/orders/order-lifecycle'
import { allShardKeys } from '../../src/redis/keys'

export interface World {
  readonly env: TestEnv
  readonly ctx: SimContext
  readonly eventId: number
  readonly shards: number
  readonly ingresses: readonly SimIngress[]
  /** This model's seeded source. */
  readonly random: () => number
  /** The source order actions draw from during a repair (as the extended model's). */
  readonly side: () => number
  readonly count: (what: string, detail?: string) => void
  readonly problems: string[]
  readonly newBuyer: () => string
  /** An earlier buyer, most often one told sold_out (buyers press buy again, at any ingress). */
  readonly earlierBuyer: (source: () => number) => string | undefined
  readonly buy: (user: string, via?: SimIngress) => Promise<void>
  readonly orderAction: (source: () => number, during?: string) => Promise<void>
  readonly takeOver: (shard: number) => Promise<void>
  /** Takes over every shard whose owner lost it; returns how many. */
  readonly replaceLost: () => Promise<number>
  readonly launch: (o: Owner) => Promise<boolean>
  readonly step: (o: Owner) => Promise<void>
  readonly apply: (o: Owner) => Promise<void>
  readonly owner: (shard: number) => Owner
  readonly stale: (o: Owner) => void
  /** False while Redis losing the sale's shards is not modelled (a draw after its close). */
  readonly redisLossModelled: () => Promise<boolean>
  /** Redis lost these shards: what their buyers were told is gone with them. */
  readonly shardsLost: (shards: number[]) => void
}

export interface WriterActors {
  /** One step of some writer (or none). */
  act: () => Promise<void>
  /** A worker's discovery round: lost shards rebuilt (racing, maybe), lost owners replaced. */
  workerRound: (race: boolean) => Promise<number>
  /** Every message published so far reaches every ingress, in order. */
  deliverAll: () => Promise<void>
  /** Before the run settles: every message handled, every log written, lost shards rebuilt. */
  settle: () => Promise<void>
}

/** Every Redis command but the ones that build a transaction or pipeline (synchronous). */
const commands = (m: string): boolean => m !== 'multi' && m !== 'pipeline' && m !== 'duplicate'
const HISTORY = ['findById', 'raiseFence', 'orderTickets', 'recordLostUnits', 'markWarmed', 'bannedUsers']

/** Runs `fn` with `Date.now` running `skew` ms off: the process it stands for has its own clock. */
async function withClock<T> (skew: number, fn: () => Promise<T>): Promise<T> {
  if (skew === 0) return await fn()
  const real = Date.now
  Date.now = () => real() + skew
  try {
    return await fn()
  } finally {
    Date.now = real
  }
}

export function writerActors (w: World): WriterActors {
  const { env, ctx, eventId, shards, random, count } = w
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T
  const k = (shard: number): ReturnType<TestEnv['keys']['shard']> => env.keys.shard({ eventId, shard })
  /** The workers' clock (the ingresses have their own). */
  const workerSkew = pick([0, 0, -30_000, 30_000])
  const event = async (): Promise<SaleEvent> => {
    const e = await ctx.events.findById(eventId)
    if (e === undefined) throw new Error('event gone')
    return e
  }

  /** Something another actor does while an ingress's memory is between two reads. */
  const interject = async (ingress: SimIngress, during: string): Promise<void> => {
    const roll = random()
    if (roll < 0.35) {
      const o = w.owner(Math.floor(random() * shards))
      if (o.flights.length === 0) await w.apply(o)
      await ctx.bus.sync()
      if (ingress.inbox.length > 0) await ingress.deliver(ingress.inbox.shift() as (typeof ingress.inbox)[number])
      count('interjected', `owner applies returns, ${ingress.name} handles the next message, ${during}`)
    } else if (roll < 0.6) {
      await ctx.bus.sync()
      const m = ingress.inbox.shift()
      if (m !== undefined) await ingress.deliver(m)
      count('interjected', `${ingress.name} handles ${m?.text ?? 'nothing'} ${during}`)
    } else if (roll < 0.8) {
      await w.orderAction(random, ` ${during}`)
    } else {
      const other = w.ingresses.find((i) => i !== ingress) as SimIngress
      await w.buy(w.newBuyer(), other)
      count('interjected', `a buy at ${other.name} ${during}`)
    }
  }

  const deliverOne = async (): Promise<void> => {
    await ctx.bus.sync()
    const ingress = pick(w.ingresses)
    if (ingress.inbox.length === 0) return
    // Handlers are async: a later message's can finish before an earlier one's (holders loading).
    const i = random() < 0.8 ? 0 : Math.floor(random() * ingress.inbox.length)
    const [m] = ingress.inbox.splice(i, 1)
    if (m === undefined) return
    const during = `while ${ingress.name} handles ${m.text}`
    // Loaded first (unarmed): an actor landing inside a first load could wait on that load.
    await ingress.cache.get(eventId)
    if (random() < 0.35) ingress.memory.arm(Math.floor(random() * 3), async () => { await interject(ingress, during) })
    await ingress.deliver(m)
    await ingress.memory.disarm()
    count('deliver', `${ingress.name} ${m.channel} ${m.text}${i > 0 ? ` (overtaking ${i})` : ''}`)
  }

  const refreshOne = async (): Promise<void> => {
    const ingress = pick(w.ingresses)
    const during = `while ${ingress.name} refreshes its row`
    await ingress.cache.get(eventId)
    if (random() < 0.4) ingress.memory.arm(Math.floor(random() * 3), async () => { await interject(ingress, during) })
    await ingress.refresh(eventId)
    await ingress.memory.disarm()
    count('refresh', `${ingress.name} answers from memory: ${String(ingress.cache.answersSoldOut(eventId))}`)
  }

  const loseShards = async (): Promise<void> => {
    if (!await w.redisLossModelled()) { count('redis loss not modelled', 'a draw after its close'); return }
    const lost = random() < 0.5 ? [Math.floor(random() * shards)] : Array.from({ length: shards }, (_, s) => s)
    for (const s of lost) await env.redis.del(...allShardKeys(k(s)), ...Object.values(env.keys.waitlist({ eventId, shard: s })))
    if (lost.length === shards) await env.redis.del(env.keys.event(eventId).soldOut)
    w.shardsLost(lost)
    count(random() < 0.3 ? 'failover reset' : 'redis loses shards', `${lost.join(',')}, nobody rebuilds yet`)
    // Every worker's round finds it at once, maybe.
    if (random() < 0.5) await workerRound(true)
  }

  /**
   * Two rebuilds of the event at once (a worker round and a buy that found a shard cold): P1 runs
   * up to one of its MySQL reads; an order is paid, cancelled or expires; P2 runs up to one of its
   * Redis commands and waits there; P1 finishes; then P2.
   */
  const twoRebuilds = async (e: SaleEvent): Promise<void> => {
    const r1 = armable(env.redis, commands)
    const rows1 = armable(ctx.events, (m) => HISTORY.includes(m))
    const r2 = armable(env.redis, commands)
    // Most often P1 is cut after it read the orders (its reads: the row, a fence per shard, the row
    // again, the orders, ...), and P2 parked between the shards it warms (its Redis calls: the
    // stocks, the siblings' fences, the stocks again, then one warm-up per shard).
    const k1 = random() < 0.6 ? shards + 2 + Math.floor(random() * 3) : Math.floor(random() * (shards + 5))
    const k2 = random() < 0.5 ? 2 * shards + shards * (shards - 1) + 1 + Math.floor(random() * (shards - 1)) : Math.floor(random() * (4 * shards + 6))
    let n2 = 0
    let p2: Landing | undefined
    let order: Landing | undefined
    let parked = (): void => {}
    const atPark = new Promise<void>((resolve) => { parked = resolve })
    let release = (): void => {}
    const gate = new Promise<void>((resolve) => { release = resolve })
    // P2 parks only before it takes the event's rebuild lock (where there is one): parked holding
    // it, P1 would wait for a P2 that waits for P1.
    const rows2 = new Proxy(ctx.events, {
      get (t, prop, receiver) {
        const v: unknown = Reflect.get(t, prop, receiver)
        if (typeof v !== 'function') return v
        if (prop !== 'underRebuildLock') return (v as (...a: unknown[]) => unknown).bind(t)
        return async (...args: unknown[]) => { await r2.disarm(); return await (v as (...a: unknown[]) => Promise<unknown>).apply(t, args) }
      }
    })
    r2.arm(k2, async () => { parked(); await gate })
    rows1.arm(k1, async () => {
      // Each runs until it ends, parks, or waits on a lock P1 holds (a rebuild under the event's lock).
      order = landInside(async () => { await w.orderAction(random, ' between two rebuilds') })
      await order.until
      p2 = landInside(async () => { n2 = await warmEvent({ redis: r2.proxy, keys: env.keys }, e, rows2) })
      await Promise.race([atPark, p2.until])
    })
    // P1 goes on until it ends or waits on a lock P2 holds while parked; then P2 is let go.
    let n1 = 0
    const p1 = landInside(async () => { n1 = await warmEvent({ redis: r1.proxy, keys: env.keys }, e, rows1.proxy) })
    await p1.until
    await rows1.settle()
    release()
    await p1.done
    await order?.done
    await p2?.done
    count('two rebuilds', `P1 warmed ${n1} (cut before MySQL read ${k1}), P2 warmed ${n2} (parked before Redis call ${k2})`)
  }

  const workerRound = async (race: boolean): Promise<number> => {
    const e = await event()
    if ((await shardStocks(env, e)).some((s) => s === undefined)) {
      if (race && random() < 0.6) await twoRebuilds(e)
      else count('rebuild', `${await withClock(workerSkew, async () => await warmEvent(env, e, ctx.events))} shards (worker clock ${workerSkew} ms)`)
    }
    return await w.replaceLost()
  }

  /**
   * The reconciler takes every lease (the owners died), and stalls before one of its Redis commands
   * past its leases: a worker takes a shard, buyers arrive and the new owner reserves. Then the
   * reconciler goes on with what it had read.
   */
  const reconcileMidRepair = async (): Promise<void> => {
    for (let s = 0; s < shards; s++) await env.redis.del(k(s).lease)
    const e = await event()
    const redis = armable(env.redis, commands)
    const at = Math.floor(random() * (8 * shards + 10))
    redis.arm(at, async () => {
      for (let s = 0; s < shards; s++) await env.redis.del(k(s).lease)
      const s = Math.floor(random() * shards)
      await w.takeOver(s)
      const o = w.owner(s)
      count('reconciler stalls past its leases', `before Redis call ${at}; shard ${s} -> ${o.lease.token}`)
      for (let i = 0; i < 2; i++) await w.buy(w.newBuyer())
      if (await w.launch(o) && random() < 0.5) await w.step(o)
    })
    const report = await reconcileEvent({ ...env, redis: redis.proxy, events: ctx.events }, e)
    await redis.disarm()
    count('reconcile', JSON.stringify(report))
    await workerRound(false)
  }

  /**
   * A worker whose clock runs off expires an order MySQL still gives its buyer 20 s to pay; then
   * the buyer pays, inside the deadline by MySQL's clock (I8).
   */
  const skewedExpiry = async (): Promise<void> => {
    const orders = await env.db('orders').select('id', 'user_id').where({ event_id: eventId, status: 'pending_payment' }).orderBy('id') as Array<{ id: number, user_id: number | string }>
    if (orders.length === 0) return
    const order = pick(orders)
    const skew = pick([30_000, -30_000, 5_000])
    await env.db('orders').where({ id: order.id }).update({ expires_at: env.db.raw('CURRENT_TIMESTAMP(3) + INTERVAL 20 SECOND') })
    const result = await withClock(skew, async () => await expireOrder(ctx.lifecycle, order.id))
    const row = await env.db('orders').where({ id: order.id }).first({ status: 'status', payable: env.db.raw('expires_at > CURRENT_TIMESTAMP(3)') }) as { status: string, payable: number }
    if (result === 'expired' && Number(row.payable) === 1) w.problems.push(`I8: order ${order.id} expired by a worker whose clock runs ${skew} ms off, while MySQL still gave its buyer about 20 s`)
    let paid = 'not tried'
    if (random() < 0.5) {
      paid = await payOrder(ctx.lifecycle, order.id, { userId: String(order.user_id), isAdmin: false }).then(() => 'paid', (err: { code?: string }) => err.code ?? 'error')
      if (paid !== 'paid' && Number(row.payable) === 1) w.problems.push(`I8: order ${order.id}'s buyer paid inside the deadline (MySQL's clock) and was refused ${paid}`)
    }
    count('expiry on a skewed clock', `order ${order.id} clock ${skew} ms: ${result}, pay ${paid}`)
  }

  const deliverAll = async (): Promise<void> => {
    await ctx.bus.sync()
    for (const ingress of w.ingresses) {
      for (let m = ingress.inbox.shift(); m !== undefined; m = ingress.inbox.shift()) await ingress.deliver(m)
    }
  }

  return {
    act: async () => {
      const roll = random()
      if (roll < 0.25) await deliverOne()
      else if (roll < 0.33) await refreshOne()
      else if (roll < 0.41) await ctx.bus.sync()
      else if (roll < 0.425) await loseShards()
      else if (roll < 0.52) await workerRound(true)
      else if (roll < 0.55) await reconcileMidRepair()
      else if (roll < 0.59) await skewedExpiry()
      else if (roll < 0.69) {
        const user = w.earlierBuyer(random)
        if (user !== undefined) await w.buy(user)
      }
    },
    workerRound,
    deliverAll,
    settle: async () => {
      await deliverAll()
      await workerRound(false)
    }
  }
}
